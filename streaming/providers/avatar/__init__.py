"""Talking-head services: D-ID streams (Talks, Clips, Agents), HeyGen's Streaming Avatar and
LiveAvatar, its successor."""

from .base import AvatarProvider, Stream
from .did import DIDProvider
from .heygen import HeyGenProvider
from .liveavatar import LiveAvatarProvider

__all__ = ["AvatarProvider", "DIDProvider", "HeyGenProvider", "LiveAvatarProvider", "Stream"]
