"""Keep live provider streams from timing out while their user is still there.

A Celery beat task. Only providers with a keep-alive call are kept alive (see
stream_lifetimes.LIFETIMES); for the others a conversation's idle timeout already stops at the
stream's end, and a D-ID conversation's attached socket (Talks, Clips, Agents) replaces its stream
shortly before D-ID would drop it (avatar_stream.py), with the same conversation (and chat).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from conversations.models import Conversation

from . import presence, worker_loop
from .providers.errors import ProviderError
from .providers.registry import shared_avatar_provider
from .replies import conversation_stream
from .stream_lifetimes import LIFETIMES, keep_alive_due

log = logging.getLogger(__name__)


def streams_to_keep_alive(now=None) -> list[Conversation]:
    """Open streams of keep-alive providers that would end before the next beat."""
    now = now or timezone.now()
    providers = [name for name, rule in LIFETIMES.items() if rule.keep_alive]
    candidates = (
        Conversation.objects.live()
        .filter(avatar__provider__in=providers, stream_closed_at__isnull=True)
        .exclude(provider_stream_id="")
        .select_related("avatar")
    )
    return [
        c for c in candidates
        if keep_alive_due(c.avatar.provider, c.avatar.session_timeout,
                          (now - c.last_activity).total_seconds())
    ]


@shared_task(name="streaming.tasks.keep_streams_alive", time_limit=60, soft_time_limit=50)
def keep_streams_alive() -> int:
    """Reset the provider's idle timer of each stream that needs it and whose page is still
    attached (an abandoned one is left for the reaper). Returns how many were kept alive."""
    kept = 0
    for conversation in streams_to_keep_alive():
        if not worker_loop.run(presence.is_attached(conversation.pk)):
            continue
        stream = conversation_stream(conversation)
        provider = shared_avatar_provider(conversation.avatar)
        try:
            worker_loop.run(provider.keep_alive(stream))
        except ProviderError as exc:  # gone already: the reaper or the next reply reports it
            log.info("keep-alive for conversation %s failed: %s", conversation.pk, exc.code)
            continue
        kept += 1
    if kept:
        log.info("kept %d provider streams alive", kept)
    return kept
