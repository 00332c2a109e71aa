"""Replies that cannot complete are marked failed, and the page is told.

A running reply keeps a heartbeat key in Redis. A worker killed mid-reply stops beating; the
reaper then finds the reply unfinished with no heartbeat and fails it, and a redelivered task
(acks_late + reject_on_worker_lost) finds the unfinished reply and fails it instead of speaking
half an answer twice. A user message whose task never started (the broker lost it, or refused
it) gets a failed reply the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from asgiref.sync import sync_to_async
from django.db import IntegrityError
from django.utils import timezone
from redis.exceptions import RedisError

from conversations.models import Conversation, Message

from . import events
from .error_codes import CODES
from .protocol import message
from .redis_client import client

log = logging.getLogger(__name__)

# A worker killed mid-reply is noticed by the first reaper pass after its reply's key expires:
# the page hears of it at most HEARTBEAT_TTL + REAPER_INTERVAL after the death. Beats are one
# SET each, so they can be frequent; the key outlives three missed beats, so a busy event loop
# is not taken for a dead one.
HEARTBEAT_TTL = 7  # seconds without a beat before a reply counts as lost
BEAT_EVERY = 2
START_DEADLINE = 120  # seconds a user message may wait in the queue for its reply task


def _key(reply_id: int) -> str:
    return f"livepersona:reply-alive:{reply_id}"


async def is_alive(reply_id: int) -> bool:
    return bool(await client().exists(_key(reply_id)))


@contextlib.asynccontextmanager
async def heartbeat(reply_id: int):
    """Keep the reply's heartbeat key alive while the block runs."""

    async def beat() -> None:
        while True:
            try:
                await client().set(_key(reply_id), 1, ex=HEARTBEAT_TTL)
            except RedisError as exc:  # Redis restarting: the next beat writes the key again
                log.warning("reply %s: heartbeat not written: %r", reply_id, exc)
            await asyncio.sleep(BEAT_EVERY)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        with contextlib.suppress(Exception):  # expiry removes it anyway
            await client().delete(_key(reply_id))


async def missed_done(reply_to: int) -> dict | None:
    """The reply.done of the finished reply to `reply_to`, rebuilt from the database for a
    socket that was out of its group when the task published it (Redis restarted); None while
    that reply runs. `sentences` is not kept, so the frame has none."""
    reply = await Message.objects.filter(reply_to_id=reply_to, completed_at__isnull=False).afirst()
    if reply is None:
        return None
    return message("reply.done", message_id=reply.pk, reply_to=reply_to, sentences=None,
                   text=reply.text, interrupted=reply.interrupted,
                   timings=await sync_to_async(reply.timings)(),
                   **({"error": reply.error} if reply.error else {}))


def mark_failed(reply: Message, code: str) -> bool:
    """Mark an unfinished reply failed; False when it had finished (or failed) already."""
    updated = Message.objects.filter(pk=reply.pk, completed_at__isnull=True).update(
        error=code, interrupted=True, completed_at=timezone.now()
    )
    if updated:
        log.warning("reply %s of conversation %s failed: %s", reply.pk, reply.conversation_id, code)
    return bool(updated)


def failed_reply_for(question: Message, code: str) -> Message | None:
    """A failed reply for a user message whose reply never started; None when one exists."""
    try:
        return Message.objects.create(
            conversation_id=question.conversation_id, role=Message.Role.ASSISTANT,
            source=Message.Source.LLM, text="", reply_to=question, error=code,
            interrupted=True, completed_at=timezone.now(),
        )
    except IntegrityError:  # its task started after all: that reply is the one to watch
        return None


async def notify_failed(reply: Message, code: str, message: str = "") -> None:
    """Tell the page: an error it can show, then the reply.done it is waiting for."""
    group = events.group_name(reply.conversation_id)
    text = message or CODES[code].text
    await events.publish(group, "error", code=code, message=text)
    await events.publish(group, "reply.done", message_id=reply.pk, reply_to=reply.reply_to_id,
                         sentences=0, text=reply.text, interrupted=True, error=code)


async def fail(reply: Message, code: str, message: str = "") -> None:
    """Mark an unfinished reply failed (once) and tell the page."""
    if await sync_to_async(mark_failed)(reply, code):
        await notify_failed(reply, code, message)


def lost_replies(now=None):
    """Unfinished replies old enough to have a heartbeat (the caller checks that it has none)."""
    now = now or timezone.now()
    return Message.objects.filter(
        role=Message.Role.ASSISTANT, completed_at__isnull=True,
        created_at__lt=now - timedelta(seconds=HEARTBEAT_TTL),
    )


def unanswered_questions(now=None):
    """User messages in open conversations whose reply task never started in time."""
    now = now or timezone.now()
    return Message.objects.filter(
        role=Message.Role.USER, reply__isnull=True,
        conversation__status__in=Conversation.OPEN_STATUSES,
        created_at__lt=now - timedelta(seconds=START_DEADLINE),
    )
