"""One avatar reply written by LiveAvatar's own LLM (FULL mode with a context), said in its room.

The sibling of agent_replies for LiveAvatar: with LIVEAVATAR_MODE=FULL and a
LIVEAVATAR_CONTEXT_ID, the user's words go to the avatar as `avatar.speak_response` (the page
publishes it on the room's `agent-control` topic, https://docs.liveavatar.com/docs/full-mode/events)
and LiveAvatar's LLM writes the answer while its voice says it; our LLM is not called. Without a
context, FULL mode says our LLM's reply with `avatar.speak_text` (replies.generate), as before.

The turn is saved like any other: the user's Message by the consumer, the assistant Message
here, before the question is sent. Its words come back only inside the room: LiveAvatar sends
`avatar.transcription` {text} on the `agent-response` topic, which only a room participant (the
page) receives. The page relays it as an `avatar.event` frame, and `save_transcript` writes it
into the reply that waits for it, then tells the page(s) as `reply.delta`.

Timings: `first_sentence_sent_at` is when the question went to the room, `first_token_at` when
the answer's words came back.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError
from django.utils import timezone

from conversations.models import Conversation, Message

from . import cancellation, events
from .providers.errors import ProviderError, ProviderUnavailable
from .replies import (
    ReplyResult,
    announce_reply,
    conversation_stream,
    finish_vendor_reply,
    new_reply,
)

log = logging.getLogger(__name__)


def writes_replies(provider) -> bool:
    """Whether this avatar provider's own LLM answers (LiveAvatar FULL mode with a context)."""
    return bool(getattr(provider, "writes_replies", False))


async def generate_in_room(
    conversation_id: str, question_id: int, *, avatar_provider
) -> ReplyResult:
    """Ask LiveAvatar's LLM, in the conversation's room, to answer and say `question_id`."""
    conversation = await Conversation.objects.select_related("avatar").aget(pk=conversation_id)
    question = await Message.objects.aget(pk=question_id, conversation=conversation)
    try:
        reply = await new_reply(conversation, question)
    except IntegrityError:  # a redelivered task: its predecessor asked the room already
        earlier = await Message.objects.aget(reply_to=question)
        log.info("reply to message %s already handled (reply %s)", question.pk, earlier.pk)
        return ReplyResult(earlier.pk, earlier.text, earlier.interrupted, error=earlier.error)
    group = await announce_reply(conversation_id, reply, question)

    stream = conversation_stream(conversation)
    spoken, interrupted, error = 0, False, ""
    try:
        if stream is None:
            raise ProviderUnavailable(
                "The avatar is not connected yet, so it cannot answer: try again in a moment.",
                provider=avatar_provider.name, service=avatar_provider.service,
            )
        if await cancellation.is_cancelled(conversation_id, reply_to=question.pk):
            interrupted = True
        else:
            reply.first_sentence_sent_at = timezone.now()
            await reply.asave(update_fields=["first_sentence_sent_at"])
            # Typed questions may be longer than one command takes; the start is the question.
            asked = question.text[: avatar_provider.max_text_chars]
            await avatar_provider.speak_response(stream, asked)
            spoken = 1  # LiveAvatar says the whole answer as one talk
    except ProviderError as exc:
        error = exc.code
        log.warning("room reply %s for conversation %s failed: %s", reply.pk, conversation_id,
                    exc.code)
        await events.publish(group, "error", code=exc.code, message=exc.message)
    log.info("room reply %s: question sent", reply.pk)
    # The words may be back already (save_transcript): reply.done carries them then.
    return await finish_vendor_reply(
        reply, question, group, interrupted=interrupted, spoken=spoken, error=error,
        conversation_id=conversation_id, refresh=("text", "avatar_started_at", "first_token_at"),
    )


async def save_transcript(conversation: Conversation, provider, text: str) -> int | None:
    """Write what LiveAvatar's LLM said (relayed by the page) into the newest reply, if that
    reply is still waiting for its words, and tell the conversation's page(s) as `reply.delta`.

    Returns the reply's id, or None when nothing waits: an avatar whose replies are ours (FULL
    mode says our sentences with `speak_text`, and LiveAvatar transcribes those too), a greeting,
    a repeat. Those are logged and dropped. The write is a compare-and-set on the empty text, so
    two pages relaying the same words save them once."""
    text = text.strip()
    if not writes_replies(provider) or not text:
        log.debug("conversation %s: avatar transcript not wanted here", conversation.pk)
        return None
    reply = await (
        Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT)
        .order_by("-created_at", "-id")
        .afirst()
    )
    if reply is None or reply.text or reply.error:
        log.info("conversation %s: avatar transcript with no reply waiting for it; dropped",
                 conversation.pk)
        return None
    saved = await Message.objects.filter(pk=reply.pk, text="").aupdate(
        text=text, first_token_at=timezone.now()
    )
    if not saved:
        return None
    await events.publish(events.group_name(conversation.pk), "reply.delta", message_id=reply.pk,
                         text=text)
    return reply.pk
