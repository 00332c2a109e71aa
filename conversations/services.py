"""Small service functions around conversations, shared by views, the consumer and tasks."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from avatars.models import Avatar

from .models import Conversation


class SessionLimitReached(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(
            f"You already have {limit} live conversations open. End one before starting another."
        )
        self.limit = limit


def start_conversation(user, avatar: Avatar) -> Conversation:
    """A new connecting conversation, refusing past the per-user live-session limit."""
    limit = settings.MAX_LIVE_SESSIONS_PER_USER
    with transaction.atomic():
        if Conversation.objects.owned_by(user).live().count() >= limit:
            raise SessionLimitReached(limit)
        return Conversation.objects.create(
            user=user,
            avatar=avatar,
            provider=avatar.provider,
            idle_timeout=min(avatar.session_timeout, settings.SESSION_IDLE_TIMEOUT),
        )
