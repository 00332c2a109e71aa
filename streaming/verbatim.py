"""The avatar says given words as they are (an API caller's line, or the persona's greeting).

The same path as a reply, without the LLM: the line is saved as the avatar's message before any
of it is relayed, split into sentences the provider accepts, spoken in order on the stream that
the conversation's WebSocket opened, and shown on the page through the conversation's group.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.utils import timezone

from conversations.models import Conversation, Message

from . import events
from .providers.avatar.base import AvatarProvider
from .providers.errors import ProviderError
from .replies import conversation_stream
from .sentences import SentenceSplitter

log = logging.getLogger(__name__)

# About 150 words a minute: the usual pace of conversational speech and of TTS voices at their
# default rate. Used only when the provider does not report how long it will speak.
WORDS_PER_SECOND = 2.5


class NoStream(Exception):
    """The conversation has no open avatar stream (no client has attached yet, or it closed)."""


@dataclass(frozen=True)
class Spoken:
    message_id: int
    text: str
    sentences: list[str]
    duration: float  # seconds
    estimated: bool  # True when `duration` comes from the text, not from the provider


def estimate_speaking_seconds(text: str) -> float:
    """How long saying `text` takes, from its word count."""
    return round(len(text.split()) / WORDS_PER_SECOND, 2)


def split_for(provider: AvatarProvider, text: str) -> list[str]:
    """`text` as the sentences the provider is asked to say, each within its length cap."""
    splitter = SentenceSplitter(max_chars=provider.max_text_chars)
    return splitter.feed(text.strip() + " ") + splitter.flush()


def reported_seconds(answers: list[dict]) -> float | None:
    """The provider's own duration (HeyGen's task answers carry `duration_ms`), or None when any
    answer lacks one (D-ID's talk answers do not say)."""
    durations = [answer.get("duration_ms") for answer in answers]
    if not durations or any(not isinstance(ms, int | float) for ms in durations):
        return None
    return round(sum(durations) / 1000, 2)


async def say(conversation: Conversation, text: str, *, provider: AvatarProvider) -> Spoken:
    """Make the avatar say `text`; NoStream if there is no stream to say it on, ProviderError if
    the provider refuses (the message stays saved with what was sent)."""
    stream = conversation_stream(conversation)
    if stream is None or not conversation.is_open:
        raise NoStream
    sentences = split_for(provider, text)
    voice = await sync_to_async(lambda: conversation.avatar.voice)()
    line = await Message.objects.acreate(
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        source=Message.Source.TEXT,
        text=" ".join(sentences),
        task_started_at=timezone.now(),
    )
    group = events.group_name(conversation.pk)
    await events.publish(group, "reply.started", message_id=line.pk, reply_to=None)
    await events.publish(group, "reply.delta", message_id=line.pk, text=line.text)
    answers: list[dict] = []
    try:
        for sentence in sentences:
            if not answers:
                line.first_sentence_sent_at = timezone.now()
            answers.append(await provider.speak(stream, sentence, voice) or {})
    except ProviderError as exc:
        log.warning("conversation %s: saying line %s failed: %s", conversation.pk, line.pk, exc.code)
        await events.publish(group, "error", code=exc.code, message=exc.message)
        raise
    finally:
        line.completed_at = timezone.now()
        await line.asave(update_fields=["first_sentence_sent_at", "completed_at"])
        await events.publish(
            group, "reply.done", message_id=line.pk, reply_to=None, sentences=len(answers),
            text=line.text, interrupted=False, timings=await sync_to_async(line.timings)(),
        )
        await Conversation.objects.filter(pk=conversation.pk).aupdate(last_activity=timezone.now())
    duration = reported_seconds(answers)
    return Spoken(
        message_id=line.pk,
        text=line.text,
        sentences=sentences,
        duration=duration if duration is not None else estimate_speaking_seconds(line.text),
        estimated=duration is None,
    )
