"""One avatar reply: stream the LLM, speak each sentence as soon as it is complete, save as we go.

Runs inside the Celery task `generate_reply`; kept apart from Celery so it can be tested and
benchmarked on its own.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone

from avatars.models import Avatar
from conversations.models import Conversation, Message

from . import cancellation, events
from .pipeline import SentenceSplitter, trim_history
from .providers.errors import ProviderError

log = logging.getLogger(__name__)


@dataclass
class ReplyResult:
    message_id: int
    text: str
    interrupted: bool
    sentences: list[str] = field(default_factory=list)
    error: str = ""


def _history(conversation: Conversation, question: Message) -> list[dict[str, str]]:
    turns = conversation.messages.filter(created_at__lte=question.created_at).exclude(text="")
    return [
        {"role": "user" if m.role == Message.Role.USER else "assistant", "content": m.text}
        for m in turns.order_by("created_at", "id")
    ]


async def generate(conversation_id: str, question_id: int, *, llm, avatar_provider) -> ReplyResult:
    """Stream the reply to `question_id`. Sentences go to the avatar in order; the assistant
    Message is saved before each sentence is relayed, and once more, complete, at the end."""
    conversation = await Conversation.objects.select_related("avatar__persona", "avatar__voice").aget(
        pk=conversation_id
    )
    question = await Message.objects.aget(pk=question_id, conversation=conversation)
    avatar: Avatar = conversation.avatar
    reply = await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        source=Message.Source.LLM,
        text="",
        reply_to=question,
        task_started_at=timezone.now(),
    )
    group = events.group_name(conversation_id)
    await events.publish(group, "reply.started", message=reply.pk, reply_to=question.pk)

    system_prompt = avatar.persona.system_prompt() if avatar.persona else _DEFAULT_PROMPT
    history = await sync_to_async(_history)(conversation, question)
    messages = trim_history(system_prompt, history, max_tokens=settings.LLM_HISTORY_TOKENS)
    stream = conversation_stream(conversation)
    splitter = SentenceSplitter(max_chars=getattr(avatar_provider, "max_text_chars", 900))
    text, sentences, interrupted, error = "", [], False, ""

    async def speak(sentence: str) -> None:
        reply.text = text
        fields = ["text"]
        if not sentences:
            reply.first_sentence_sent_at = timezone.now()
            fields.append("first_sentence_sent_at")
        await reply.asave(update_fields=fields)
        sentences.append(sentence)
        if stream is not None:
            await avatar_provider.speak(stream, sentence, avatar.voice)

    started = time.perf_counter()
    try:
        async for delta in llm.stream(messages, max_tokens=settings.LLM_MAX_TOKENS):
            if await cancellation.is_cancelled(conversation_id, reply_to=question.pk):
                interrupted = True
                break
            if not text:
                reply.first_token_at = timezone.now()
                await reply.asave(update_fields=["first_token_at"])
            text += delta
            await events.publish(group, "reply.delta", message=reply.pk, text=delta)
            for sentence in splitter.feed(delta):
                await speak(sentence)
        if not interrupted:
            for sentence in splitter.flush():
                await speak(sentence)
    except ProviderError as exc:
        error = exc.code
        log.warning("reply %s for conversation %s failed: %s", reply.pk, conversation_id, exc.code)
        await events.publish(group, "error", code=exc.code, message=exc.message)
    reply.text = text.strip()
    reply.interrupted = interrupted or await cancellation.is_cancelled(conversation_id, reply_to=question.pk)
    reply.completed_at = timezone.now()
    await reply.asave(update_fields=["text", "interrupted", "completed_at"])
    await Conversation.objects.filter(pk=conversation_id).aupdate(last_activity=timezone.now())
    log.info(
        "reply %s: %d chars, %d sentences in %.2fs%s", reply.pk, len(text), len(sentences),
        time.perf_counter() - started, " (interrupted)" if reply.interrupted else "",
    )
    # The consumer records when the avatar started speaking, on the row, not on our copy.
    await reply.arefresh_from_db(fields=["avatar_started_at"])
    await events.publish(
        group, "reply.done", message=reply.pk, reply_to=question.pk, sentences=len(sentences),
        text=reply.text, interrupted=reply.interrupted,
        timings=await sync_to_async(reply.timings)(),
    )
    return ReplyResult(reply.pk, reply.text, reply.interrupted, sentences, error)


def conversation_stream(conversation: Conversation, *, include_closed: bool = False):
    """The provider stream saved on the conversation, or None when there is none (or it was
    closed, unless `include_closed`: the closer itself marks it closed before closing)."""
    from .providers.avatar.base import Stream

    if not conversation.provider_stream_id:
        return None
    if conversation.stream_closed_at and not include_closed:
        return None
    return Stream.from_dict(conversation.provider_state)


_DEFAULT_PROMPT = (
    "You are a friendly assistant speaking out loud in a live video call: answer in one to three "
    "short, natural spoken sentences."
)
