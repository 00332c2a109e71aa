"""Talking-head services: D-ID streams (Talks, Clips, Agents) and HeyGen's Streaming Avatar."""

from .base import AvatarProvider, Stream
from .did import DIDProvider
from .heygen import HeyGenProvider

__all__ = ["AvatarProvider", "DIDProvider", "HeyGenProvider", "Stream"]
