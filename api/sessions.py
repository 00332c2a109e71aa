"""What the session routes do besides HTTP: find the caller's conversation, have the avatar say
a line or answer one, interrupt it, stop the session. The provider stream itself belongs to the
conversation's WebSocket consumer; these work through the handles it saved on the Conversation
and through the conversation's channel-layer group, as the Celery reply task does."""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from celery.exceptions import TimeoutError as CeleryTimeout
from django.conf import settings
from django.http import Http404
from django.utils import timezone

from conversations.models import Conversation, Message
from streaming import cancellation, events, verbatim
from streaming.providers.errors import ProviderError
from streaming.providers.registry import avatar_provider_for
from streaming.replies import conversation_stream
from streaming.tasks import close_stream, generate_reply

from .errors import ApiError

log = logging.getLogger(__name__)

STREAM_NOT_READY = (
    "The avatar stream is not open: attach to the session's WebSocket first (the stream opens "
    "when a client attaches) and wait for its 'rtc.offer'."
)


async def own_conversation(user, conversation_id, *, open_only: bool = False) -> Conversation:
    """The caller's conversation; someone else's is as absent as one that does not exist."""
    conversation = await (
        Conversation.objects.owned_by(user)
        .select_related("avatar__voice", "avatar__persona")
        .filter(pk=conversation_id)
        .afirst()
    )
    if conversation is None:
        raise Http404
    if open_only and not conversation.is_open:
        raise ApiError(409, "session_ended", "This session has ended.")
    return conversation


async def say(conversation: Conversation, text: str) -> verbatim.Spoken:
    async with avatar_provider_for(conversation.avatar) as provider:
        try:
            return await verbatim.say(conversation, text, provider=provider)
        except verbatim.NoStream:
            raise ApiError(409, "stream_not_ready", STREAM_NOT_READY) from None


async def ask(conversation: Conversation, text: str) -> Message:
    """Save `text` as the user's message, run the usual reply task on it and wait for the
    answer (the task streams it to the avatar sentence by sentence meanwhile)."""
    if conversation_stream(conversation) is None:
        raise ApiError(409, "stream_not_ready", STREAM_NOT_READY)
    question = await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.USER,
        source=Message.Source.TEXT,
        text=text,
        transcript_final_at=timezone.now(),
    )
    await Conversation.objects.filter(pk=conversation.pk).aupdate(last_activity=timezone.now())
    await events.publish(
        events.group_name(conversation.pk), "transcript.final",
        text=text, message_id=question.pk, source=Message.Source.TEXT,
    )
    # Publishing to the broker and waiting for the result are blocking socket calls.
    pending = await sync_to_async(generate_reply.delay, thread_sensitive=False)(
        str(conversation.pk), question.pk
    )
    try:
        outcome = await sync_to_async(pending.get, thread_sensitive=False)(
            timeout=settings.API_REPLY_TIMEOUT
        )
    except CeleryTimeout:
        log.warning("conversation %s: reply to %s not done in time", conversation.pk, question.pk)
        raise ApiError(
            504, "reply_timeout", "The answer is taking too long; it will appear in the history."
        ) from None
    reply = await Message.objects.aget(pk=outcome["message_id"])
    if outcome.get("error"):
        raise ApiError(502, outcome["error"], "The avatar could not answer; please try again.")
    return reply


async def interrupt(conversation: Conversation) -> None:
    """Stop the reply being written and the avatar mid-sentence, like a barge-in."""
    question = await (
        Message.objects.filter(conversation=conversation, role=Message.Role.USER)
        .order_by("-created_at", "-id")
        .afirst()
    )
    if question is not None:
        await cancellation.cancel(conversation.pk, reply_to=question.pk)
    stream = conversation_stream(conversation)
    if stream is not None:
        async with avatar_provider_for(conversation.avatar) as provider:
            await provider.interrupt(stream)
    # D-ID stops mid-sentence only through the browser's data channel: the page does that.
    await events.publish(events.group_name(conversation.pk), "avatar.interrupt")


async def stop(conversation: Conversation) -> bool:
    """End the session and close its provider stream, once each; False if it had ended."""
    avatar = conversation.avatar  # end() reloads the row, and with it forgets the avatar
    ended = await sync_to_async(conversation.end)(Conversation.EndReason.USER)
    if await sync_to_async(conversation.claim_stream_close)():
        stream = conversation_stream(conversation, include_closed=True)
        try:
            async with avatar_provider_for(avatar) as provider:
                await provider.close(stream)
        except ProviderError as exc:
            log.warning("conversation %s: closing stream failed (%s); retrying in the background",
                        conversation.pk, exc.code)
            await sync_to_async(close_stream.delay, thread_sensitive=False)(str(conversation.pk))
    if ended:
        await events.publish(
            events.group_name(conversation.pk), "session.ended",
            reason=Conversation.EndReason.USER, message="The session was ended through the API.",
        )
    return ended
