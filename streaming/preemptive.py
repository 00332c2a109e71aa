"""Preemptive replies: the LLM starts on the recogniser's speculative final, before the user's
turn has ended, and its answer is held, unsaid and unsaved, until the turn ends with the same
words.

The consumer starts one (`start`), then adopts it with the saved user message (`adopt`) or
cancels it (`cancel`), as the turn state decides (streaming/turns.py). Meanwhile the Celery task
`preempt_reply` runs `held`: it streams the LLM's answer into memory (`HeldAnswer`) and waits.
Adopted, the held answer is spoken as the ordinary reply to that message (`replies.generate`,
with the held answer standing in for a second LLM call); cancelled, it is dropped and only the
tokens it used are counted against the user's LLM quota.

Each preemptive reply's fate is one Redis key, set once (SET NX) by whoever decides first: the
consumer's adoption (the user message's id), its cancellation, or the task giving up (its wait
ran out, the broker refused it, no LLM tokens are left, the avatar answers through its own
agent). An adoption that finds the task gone is refused at once, and the consumer queues a
normal reply instead: no turn is left unanswered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from kombu.exceptions import OperationalError as BrokerError

from conversations.models import Conversation

from . import quota_store, quotas, replies
from .redis_client import client

log = logging.getLogger(__name__)

# A speculative final is followed within about a second by speech_final (endpointing), an
# UtteranceEnd (utterance_end_ms, 1000) or more words; a fate not decided by then belongs to a
# turn that went wrong (a refused save, a lost socket). Kept short: the wait holds a thread of
# the replies worker (at most one per socket: a new preemptive reply cancels the one before).
ADOPT_WAIT_SECONDS = 5.0
# How often the waiting task looks at its fate: what an adoption can add to the reply's start.
POLL_SECONDS = 0.01
CANCELLED, DROPPED = "cancelled", "dropped"
_TTL_SECONDS = 600


def _key(conversation_id, token: str) -> str:
    return f"livepersona:preempt:{conversation_id}:{token}"


async def _decide(conversation_id, token: str, fate: str) -> str | None:
    """Set the fate unless it is set: None when ours was set, else the one that was."""
    key = _key(conversation_id, token)
    if await client().set(key, fate, nx=True, ex=_TTL_SECONDS):
        return None
    found = await client().get(key)
    return found.decode() if found is not None else None


async def fate(conversation_id, token: str) -> str | None:
    """The message id it was adopted for, CANCELLED, DROPPED, or None (undecided)."""
    found = await client().get(_key(conversation_id, token))
    return found.decode() if found is not None else None


# The consumer's side ----------------------------------------------------------------------


def _enqueue(conversation_id, token: str, text: str) -> bool:
    from .tasks import preempt_reply  # tasks imports this module

    try:
        # No publish retry: a preemptive reply only saves time, and a late one saves none.
        preempt_reply.apply_async((str(conversation_id), token, text), retry=False)
    except (BrokerError, OSError) as exc:
        log.warning("conversation %s: could not queue a preemptive reply: %s", conversation_id, exc)
        return False
    return True


async def start(conversation_id, token: str, text: str) -> None:
    """Queue the preemptive reply to `text`; if the broker refuses it, it is dropped at once."""
    if not await sync_to_async(_enqueue, thread_sensitive=False)(conversation_id, token, text):
        await _decide(conversation_id, token, DROPPED)


async def cancel(conversation_id, token: str) -> None:
    await _decide(conversation_id, token, CANCELLED)


async def adopt(conversation_id, token: str, message_id: int) -> bool:
    """Make the held answer the reply to the saved user message `message_id`. False when the
    task has given up (or was never queued): the caller queues a normal reply."""
    taken = await _decide(conversation_id, token, str(message_id))
    return taken is None or taken == str(message_id)


# The task's side --------------------------------------------------------------------------


class HeldAnswer:
    """An LLM answer read into memory as it streams. `stream()` gives it back, what came so far
    and then the rest as it comes, in place of the LLM client's `stream` (same interface)."""

    def __init__(self, deltas: AsyncIterator[str]) -> None:
        self.deltas: list[str] = []
        self.error: Exception | None = None
        self.finished = False
        self._more = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read(deltas))

    @property
    def text(self) -> str:
        return "".join(self.deltas)

    async def _read(self, deltas: AsyncIterator[str]) -> None:
        try:
            async for delta in deltas:
                self.deltas.append(delta)
                self._more.set()
        except Exception as exc:  # raised again to whoever adopts the answer
            self.error = exc
        finally:
            self.finished = True
            self._more.set()

    async def stream(self, messages=None, *, max_tokens: int = 0) -> AsyncIterator[str]:
        given = 0
        while True:
            while given < len(self.deltas):
                given += 1
                yield self.deltas[given - 1]
            if self.finished:
                break
            self._more.clear()
            await self._more.wait()
        if self.error is not None:
            raise self.error

    async def aclose(self) -> None:
        """Stop reading (closes the LLM's stream)."""
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def _await_fate(conversation_id, token: str) -> str:
    deadline = asyncio.get_running_loop().time() + ADOPT_WAIT_SECONDS
    while asyncio.get_running_loop().time() < deadline:
        decided = await fate(conversation_id, token)
        if decided is not None:
            return decided
        await asyncio.sleep(POLL_SECONDS)
    return await _decide(conversation_id, token, DROPPED) or DROPPED


@contextlib.asynccontextmanager
async def held(conversation_id: str, token: str, text: str, *,
               llm) -> AsyncIterator[tuple[int, object] | None]:
    """Stream `llm`'s answer to `text` into memory until the consumer decides. Yields None when
    it was cancelled or given up; adopted, (the user message it answers, the LLM to answer it
    with: the held answer, or `llm` itself for a task that finds it adopted before it began)."""
    conversation = await Conversation.objects.select_related(
        "avatar__persona", "avatar__voice"
    ).aget(pk=conversation_id)
    decided = await fate(conversation_id, token)
    answer, messages = None, []
    if decided is None:
        gives_up = conversation.avatar.answers_through_agent or await quota_store.check(
            conversation.user_id, "llm_tokens"
        )
        if gives_up:
            decided = await _decide(conversation_id, token, DROPPED) or DROPPED
        else:
            messages = await replies.prompt_for(conversation, asked=text)
            answer = HeldAnswer(llm.stream(messages, max_tokens=settings.LLM_MAX_TOKENS))
            decided = await _await_fate(conversation_id, token)
    try:
        if decided.isdigit():
            yield int(decided), answer or llm
            return
        if answer is not None:  # cancelled or dropped: the tokens it used are all it costs
            await answer.aclose()
            await quota_store.spend(conversation.user_id, "llm_tokens",
                                    quotas.llm_tokens(messages, answer.text))
            log.info("conversation %s: preemptive reply %s %s after %d chars", conversation_id,
                     token, decided, len(answer.text))
        yield None
    finally:
        if answer is not None:
            await answer.aclose()
