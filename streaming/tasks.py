"""Celery tasks: the LLM reply, the idle-session reaper and provider stream closing."""

from __future__ import annotations

import logging

from celery import shared_task
from django.utils import timezone

from conversations.models import Conversation

from . import events, presence, worker_loop
from .providers.errors import ProviderError, ProviderUnavailable

log = logging.getLogger(__name__)


def _run(coro):
    return worker_loop.run(coro)


@shared_task(name="streaming.tasks.generate_reply", acks_late=False, time_limit=180, soft_time_limit=150)
def generate_reply(conversation_id: str, message_id: int) -> dict:
    """Stream the avatar's answer to one user message (not retried: a half-spoken reply must not
    be spoken twice; failures are reported to the user instead)."""
    from .providers.registry import shared_avatar_provider, shared_llm_client
    from .replies import generate

    async def reply():
        conversation = await Conversation.objects.select_related("avatar").aget(pk=conversation_id)
        provider = shared_avatar_provider(conversation.avatar)
        result = await generate(
            conversation_id, message_id, llm=shared_llm_client(), avatar_provider=provider
        )
        return {"message": result.message_id, "interrupted": result.interrupted, "error": result.error}

    return _run(reply())


@shared_task(
    name="streaming.tasks.close_stream",
    autoretry_for=(ProviderUnavailable,),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def close_stream(conversation_id: str) -> bool:
    """Close a conversation's provider stream (the caller has claimed the close, so this runs
    once per stream; retried with backoff while the provider is unreachable)."""
    from .providers.registry import shared_avatar_provider
    from .replies import conversation_stream

    conversation = Conversation.objects.select_related("avatar").get(pk=conversation_id)
    stream = conversation_stream(conversation, include_closed=True)
    if stream is None:
        return False

    async def close():
        await shared_avatar_provider(conversation.avatar).close(stream)

    try:
        _run(close())
    except ProviderUnavailable:
        raise
    except ProviderError as exc:  # already gone on the provider's side: nothing left to close
        log.info("closing stream of %s: %s", conversation_id, exc.code)
    return True


@shared_task(name="streaming.tasks.end_abandoned")
def end_abandoned(conversation_id: str) -> bool:
    """End a conversation whose socket went away and did not come back within the grace period,
    and close its provider stream (once)."""
    if _run(presence.is_attached(conversation_id)):
        return False
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or not conversation.end(Conversation.EndReason.DISCONNECT):
        return False
    if conversation.claim_stream_close():
        close_stream(conversation_id)
    return True


@shared_task(name="streaming.tasks.reap_idle_sessions")
def reap_idle_sessions() -> int:
    """End conversations idle past their timeout and close their provider streams, once each."""
    reaped = 0
    for conversation in Conversation.objects.idle_since(timezone.now()).select_related("avatar"):
        if not conversation.end(Conversation.EndReason.TIMEOUT):
            continue  # ended meanwhile by the consumer
        reaped += 1
        if conversation.claim_stream_close():
            close_stream.delay(str(conversation.pk))
        _run(events.publish(
            events.group_name(conversation.pk),
            "session.ended",
            reason=Conversation.EndReason.TIMEOUT,
            message="The conversation ended after a period of inactivity.",
        ))
    if reaped:
        log.info("reaped %d idle conversations", reaped)
    return reaped
