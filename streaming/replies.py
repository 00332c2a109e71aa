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
from django.db import IntegrityError
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from avatars.models import Avatar
from avatars.prompts import system_prompt_for
from conversations.models import Conversation, Message

from . import cancellation, events, quota_store, quotas, reply_watch
from .prompt import trim_history
from .providers.avatar.base import Stream
from .providers.errors import ProviderError
from .sentences import SentenceSplitter

log = logging.getLogger(__name__)


@dataclass
class ReplyResult:
    message_id: int
    text: str
    interrupted: bool
    sentences: list[str] = field(default_factory=list)
    error: str = ""


def _history(conversation: Conversation, question: Message | None) -> list[dict[str, str]]:
    turns = conversation.messages.exclude(text="")
    if question is not None:
        turns = turns.filter(created_at__lte=question.created_at)
    return [
        {"role": "user" if m.role == Message.Role.USER else "assistant", "content": m.text}
        for m in turns.order_by("created_at", "id")
    ]


async def prompt_for(conversation: Conversation, question: Message | None = None, *,
                     asked: str = "") -> list[dict[str, str]]:
    """The LLM's messages: the persona's system prompt and the newest turns that fit
    `LLM_HISTORY_TOKENS`, up to `question`; or, for words not saved yet (a preemptive reply,
    streaming/preemptive.py), every turn so far and then `asked`."""
    history = await sync_to_async(_history)(conversation, question)
    if asked:
        history.append({"role": "user", "content": asked})
    system_prompt = system_prompt_for(conversation.avatar, default=_DEFAULT_PROMPT)
    return trim_history(system_prompt, history, max_tokens=settings.LLM_HISTORY_TOKENS)


async def generate(conversation_id: str, question_id: int, *, llm, avatar_provider) -> ReplyResult:
    """Stream the reply to `question_id`. Sentences go to the avatar in order; the assistant
    Message is saved before each sentence is relayed, and once more, complete, at the end.

    Idempotent: a redelivered task finds the reply its lost predecessor started and fails it
    (the page is told) rather than speaking half an answer twice."""
    conversation = await Conversation.objects.select_related("avatar__persona", "avatar__voice").aget(
        pk=conversation_id
    )
    question = await Message.objects.aget(pk=question_id, conversation=conversation)
    try:
        reply = await new_reply(conversation, question)
    except IntegrityError:  # reply_to is one-to-one: an earlier attempt got this far
        return await _earlier_attempt(question)
    async with reply_watch.heartbeat(reply.pk):
        return await _generate(conversation, question, reply, llm=llm,
                               avatar_provider=avatar_provider)


async def new_reply(conversation: Conversation, question: Message) -> Message:
    """The empty assistant Message answering `question`, saved before anything is spoken.
    IntegrityError if `question` has one already (reply_to is one-to-one)."""
    return await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        source=Message.Source.LLM,
        text="",
        reply_to=question,
        task_started_at=timezone.now(),
    )


async def announce_reply(conversation_id: str, reply: Message, question: Message) -> str:
    """Tell the conversation's group a reply has started; returns the group's name."""
    group = events.group_name(conversation_id)
    await events.publish(group, "reply.started", message_id=reply.pk, reply_to=question.pk)
    return group


async def finish_vendor_reply(
    reply: Message, question: Message, group: str, *, interrupted: bool, spoken: int,
    error: str, conversation_id: str, refresh: tuple[str, ...] = ("avatar_started_at",),
) -> ReplyResult:
    """Close a reply the avatar's vendor wrote (D-ID agents, LiveAvatar FULL with a context):
    saved as interrupted or complete (and its error), then `reply.done` with its timings."""
    reply.interrupted = interrupted or await cancellation.is_cancelled(
        conversation_id, reply_to=question.pk
    )
    reply.completed_at = timezone.now()
    reply.error = error
    await reply.asave(update_fields=["interrupted", "completed_at", "error"])
    await Conversation.objects.filter(pk=conversation_id).aupdate(last_activity=timezone.now())
    await reply.arefresh_from_db(fields=list(refresh))
    await events.publish(
        group, "reply.done", message_id=reply.pk, reply_to=question.pk, sentences=spoken,
        text=reply.text, interrupted=reply.interrupted,
        timings=await sync_to_async(reply.timings)(),
    )
    return ReplyResult(reply.pk, reply.text, reply.interrupted, [reply.text] if spoken else [],
                       error)


async def _earlier_attempt(question: Message) -> ReplyResult:
    reply = await Message.objects.aget(reply_to=question)
    if reply.completed_at is None and not await reply_watch.is_alive(reply.pk):
        await reply_watch.fail(reply, "reply_lost")
        await reply.arefresh_from_db()
    log.info("reply to message %s already handled (reply %s)", question.pk, reply.pk)
    return ReplyResult(reply.pk, reply.text, reply.interrupted, error=reply.error)


async def _generate(conversation, question, reply, *, llm, avatar_provider) -> ReplyResult:
    conversation_id = str(conversation.pk)
    avatar: Avatar = conversation.avatar
    group = await announce_reply(conversation_id, reply, question)

    messages = await prompt_for(conversation, question)
    stream = conversation_stream(conversation)
    splitter = SentenceSplitter(max_chars=getattr(avatar_provider, "max_text_chars", 900),
                                clause_first=True)
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

    async def answer() -> bool:
        """Stream the LLM's answer to the avatar; False when barge-in cut it short."""
        nonlocal text
        async for delta in llm.stream(messages, max_tokens=settings.LLM_MAX_TOKENS):
            if await cancellation.is_cancelled(conversation_id, reply_to=question.pk):
                return False
            if not text:
                reply.first_token_at = timezone.now()
                await reply.asave(update_fields=["first_token_at"])
            text += delta
            await events.publish(group, "reply.delta", message_id=reply.pk, text=delta)
            for sentence in splitter.feed(delta):
                await speak(sentence)
        for sentence in splitter.flush():
            await speak(sentence)
        return True

    started = time.perf_counter()
    # Barge-in may have cancelled this reply while it waited in the queue: then the LLM is not
    # called at all (nor billed). Nor is it past the user's daily token budget.
    interrupted = await cancellation.is_cancelled(conversation_id, reply_to=question.pk)
    refusal = None if interrupted else await quota_store.check(conversation.user_id, "llm_tokens")
    if refusal:
        error = refusal.code
        log.info("reply %s for conversation %s refused: %s", reply.pk, conversation_id, error)
        await events.publish(group, "error", code=refusal.code, message=refusal.message)
    elif not interrupted:
        try:
            interrupted = not await answer()
        except ProviderError as exc:
            error = exc.code
            log.warning("reply %s for conversation %s failed: %s", reply.pk, conversation_id,
                        exc.code)
            await events.publish(group, "error", code=exc.code, message=exc.message)
        await quota_store.spend(conversation.user_id, "llm_tokens", quotas.llm_tokens(messages, text))
    reply.text = text.strip()
    reply.error = error
    reply.interrupted = interrupted or await cancellation.is_cancelled(conversation_id, reply_to=question.pk)
    reply.completed_at = timezone.now()
    await reply.asave(update_fields=["text", "interrupted", "completed_at", "error"])
    await Conversation.objects.filter(pk=conversation_id).aupdate(last_activity=timezone.now())
    log.info(
        "reply %s: %d chars, %d sentences in %.2fs%s", reply.pk, len(text), len(sentences),
        time.perf_counter() - started, " (interrupted)" if reply.interrupted else "",
    )
    # The consumer records when the avatar started speaking, on the row, not on our copy.
    await reply.arefresh_from_db(fields=["avatar_started_at"])
    await events.publish(
        group, "reply.done", message_id=reply.pk, reply_to=question.pk, sentences=len(sentences),
        text=reply.text, interrupted=reply.interrupted,
        timings=await sync_to_async(reply.timings)(), **({"error": error} if error else {}),
    )
    return ReplyResult(reply.pk, reply.text, reply.interrupted, sentences, error)


def publish_reply(conversation_id, message_id: int) -> bool:
    """Queue the reply task for a saved user message; False (logged) when the broker cannot be
    reached. Sync: publishing is a blocking socket write (from the event loop: `aenqueue_reply`)."""
    from .tasks import generate_reply  # tasks imports this module

    try:
        # Celery's default publish retry would hold the caller for seconds; one quick retry.
        generate_reply.apply_async(
            (str(conversation_id), message_id),
            retry=True, retry_policy={"max_retries": 1, "interval_start": 0.2},
        )
    except (BrokerError, OSError) as exc:
        log.warning("conversation %s: could not queue the reply to %s: %s",
                    conversation_id, message_id, exc)
        return False
    return True


async def aenqueue_reply(conversation_id, message_id: int) -> str | None:
    """Queue the reply to a saved user message. None when queued; else an error code
    ("broker_unavailable"), with the reply recorded as failed: the caller tells its own socket
    (`reply_watch.MESSAGES[code]`; the channel layer may be down with the broker) and stops
    waiting for that reply."""
    # Only the publish goes to a pool thread; the ORM write stays on asgiref's one sync thread
    # with the consumer's other queries, so no pool thread keeps a database connection open.
    if await sync_to_async(publish_reply, thread_sensitive=False)(conversation_id, message_id):
        return None
    await sync_to_async(_fail_unqueued_reply)(message_id)
    return "broker_unavailable"


def _fail_unqueued_reply(message_id: int) -> None:
    # Recorded as a failed reply (the history shows it; the reaper will not report it again).
    reply_watch.failed_reply_for(Message.objects.get(pk=message_id), "broker_unavailable")


def conversation_stream(conversation: Conversation, *, include_closed: bool = False):
    """The provider stream saved on the conversation, or None when there is none (or it was
    closed, unless `include_closed`: the closer itself marks it closed before closing)."""
    if not conversation.provider_stream_id:
        return None
    if conversation.stream_closed_at and not include_closed:
        return None
    return Stream.from_dict(conversation.provider_state)


_DEFAULT_PROMPT = (
    "You are a friendly assistant speaking out loud in a live video call: answer in one to three "
    "short, natural spoken sentences."
)
