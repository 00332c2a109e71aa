"""Celery tasks: the LLM reply, the idle-session reaper and provider stream closing."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from conversations.models import Conversation, Message

from . import events, llm_warmup, preemptive, presence, reply_watch, stream_closing, worker_loop
from .agent_replies import generate_through_agent
from .keep_alive import keep_streams_alive  # noqa: F401 - registers the beat task with Celery
from .liveavatar_replies import generate_in_room, writes_replies
from .providers.avatar.base import Stream
from .providers.errors import ProviderError, ProviderUnavailable
from .providers.registry import shared_avatar_provider, shared_llm_client
from .replies import conversation_stream, generate

log = logging.getLogger(__name__)


def _run(coro, timeout: float | None = None):
    return worker_loop.run(coro, timeout=timeout)


# The reply's deadline, kept on the worker's event loop (worker_loop.run): the `replies` worker's
# thread pool has no Celery time limits, which need a prefork child to signal.
REPLY_DEADLINE_SECONDS = 150


async def _answer(conversation_id: str, message_id: int, *, llm) -> dict:
    conversation = await Conversation.objects.select_related("avatar").aget(pk=conversation_id)
    provider = shared_avatar_provider(conversation.avatar)
    if conversation.avatar.answers_through_agent:  # the D-ID agent's own LLM and knowledge
        result = await generate_through_agent(conversation_id, message_id, avatar_provider=provider)
    elif writes_replies(provider):  # LiveAvatar FULL mode with a context: its own LLM
        result = await generate_in_room(conversation_id, message_id, avatar_provider=provider)
    else:
        result = await generate(conversation_id, message_id, llm=llm, avatar_provider=provider)
    return {"message_id": result.message_id, "interrupted": result.interrupted,
            "error": result.error}


# acks_late + reject_on_worker_lost: a worker killed mid-task gives the message back to the
# queue. A reply is idempotent (replies.generate): the redelivered task fails a reply its lost
# predecessor had started, rather than speak it twice, and runs one that had not started.
@shared_task(name="streaming.tasks.generate_reply", acks_late=True, reject_on_worker_lost=True,
             time_limit=180, soft_time_limit=REPLY_DEADLINE_SECONDS)
def generate_reply(conversation_id: str, message_id: int) -> dict:
    """Stream the avatar's answer to one user message."""
    try:
        return _run(_answer(conversation_id, message_id, llm=shared_llm_client()),
                    timeout=REPLY_DEADLINE_SECONDS)
    except (SoftTimeLimitExceeded, TimeoutError):
        # worker_loop.run cancelled the reply; fail it now rather than at the reaper's pass.
        _fail_reply_to(message_id, "reply_timeout")
        return {"message_id": None, "interrupted": True, "error": "reply_timeout"}
    except Exception:
        _fail_reply_to(message_id, "reply_failed")
        raise  # logged by Celery with its traceback


# Longer than a cold first prompt takes on two busy cores; a warm-up still running then is
# of no use to the first question, which has come by then.
WARM_DEADLINE_SECONDS = 20


@shared_task(name="streaming.tasks.warm_llm", ignore_result=True)
def warm_llm(conversation_id: str) -> bool:
    """Read the conversation's first prompt into the local engine's LLM (streaming/llm_warmup.py).
    Only a head start: any failure is logged and dropped."""
    try:
        _run(llm_warmup.warm(conversation_id, llm=shared_llm_client()),
             timeout=WARM_DEADLINE_SECONDS)
    except (ProviderError, TimeoutError, Conversation.DoesNotExist) as exc:
        log.info("conversation %s: LLM warm-up dropped: %r", conversation_id, exc)
        return False
    return True


@shared_task(name="streaming.tasks.preempt_reply", acks_late=True, reject_on_worker_lost=True,
             time_limit=210, soft_time_limit=REPLY_DEADLINE_SECONDS + preemptive.ADOPT_WAIT_SECONDS)
def preempt_reply(conversation_id: str, token: str, text: str) -> dict:
    """Start the LLM on a speculative transcript and hold its answer until the consumer adopts
    it (then speak it as the reply to the saved message) or cancels it (streaming/preemptive.py)."""

    async def reply() -> dict:
        llm = shared_llm_client()
        async with preemptive.held(conversation_id, token, text, llm=llm) as adopted:
            if adopted is None:
                return {"message_id": None, "interrupted": True}  # cancelled or given up
            message_id, llm = adopted
            return await _answer(conversation_id, message_id, llm=llm)

    try:
        return _run(reply(), timeout=REPLY_DEADLINE_SECONDS + preemptive.ADOPT_WAIT_SECONDS)
    except (SoftTimeLimitExceeded, TimeoutError):
        _fail_adopted(conversation_id, token, "reply_timeout")
        return {"message_id": None, "interrupted": True, "error": "reply_timeout"}
    except Exception:
        _fail_adopted(conversation_id, token, "reply_failed")
        raise


def _fail_adopted(conversation_id: str, token: str, code: str) -> None:
    """An adopted preemptive reply's user message is owed a reply: failed as generate_reply's."""
    decided = _run(preemptive.fate(conversation_id, token))
    if decided is not None and decided.isdigit():
        _fail_reply_to(int(decided), code)


def _fail_reply_to(message_id: int, code: str) -> None:
    """Fail the reply to `message_id` (creating it if the task died before it did)."""
    question = Message.objects.filter(pk=message_id).first()
    if question is None:
        return
    reply = Message.objects.filter(reply_to=question).first()
    if reply is None:
        reply = reply_watch.failed_reply_for(question, code)
    elif not reply_watch.mark_failed(reply, code):
        return
    if reply is not None:
        _run(reply_watch.notify_failed(reply, code))


@shared_task(
    name="streaming.tasks.close_stream",
    autoretry_for=(ProviderUnavailable,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
    acks_late=True,
    reject_on_worker_lost=True,
)
def close_stream(conversation_id: str, stream: dict | None = None) -> bool:
    """Close a conversation's provider stream (`stream`, else the one on the row) and confirm
    the close. The caller has claimed it; retried with backoff while the provider is
    unreachable, and re-queued by the reaper if every retry failed or the worker died."""
    conversation = Conversation.objects.select_related("avatar").filter(pk=conversation_id).first()
    if conversation is None:
        return False
    target = Stream.from_dict(stream) if stream else conversation_stream(
        conversation, include_closed=True
    )
    if target is None or conversation.stream_close_confirmed_id == target.id:
        return False  # nothing to close, or a redelivered task whose close went through

    async def close():
        await shared_avatar_provider(conversation.avatar).close(target)

    try:
        _run(close())
    except ProviderUnavailable:
        raise
    except ProviderError as exc:  # already gone on the provider's side: nothing left to close
        log.info("closing stream of %s: %s", conversation_id, exc.code)
    conversation.confirm_stream_closed(target.id)
    return True


@shared_task(name="streaming.tasks.end_abandoned", acks_late=True, reject_on_worker_lost=True)
def end_abandoned(conversation_id: str) -> bool:
    """End a conversation whose socket went away and did not come back within the grace period,
    and close its provider stream (once, through the retried task)."""
    if _run(presence.is_attached(conversation_id)):
        return False
    conversation = Conversation.objects.filter(pk=conversation_id).first()
    if conversation is None or not conversation.end(Conversation.EndReason.DISCONNECT):
        return False
    if conversation.claim_stream_close():
        stream_closing.enqueue_close(conversation_id)
    return True


@shared_task(name="streaming.tasks.reap_idle_sessions")
def reap_idle_sessions() -> int:
    """End conversations idle past their timeout and close their provider streams, once each;
    re-close streams whose close was claimed but never confirmed; fail replies that were lost."""
    reaped = 0
    for conversation in Conversation.objects.idle_since(timezone.now()).select_related("avatar"):
        if not conversation.end(Conversation.EndReason.TIMEOUT):
            continue  # ended meanwhile by the consumer
        reaped += 1
        if conversation.claim_stream_close():
            stream_closing.enqueue_close(conversation.pk)
        _run(events.publish(
            events.group_name(conversation.pk),
            "session.ended",
            reason=Conversation.EndReason.TIMEOUT,
            message="The conversation ended after a period of inactivity.",
        ))
    if reaped:
        log.info("reaped %d idle conversations", reaped)
    recover_stream_closes()
    fail_lost_replies()
    return reaped


def fail_lost_replies(now=None) -> int:
    """Fail replies whose worker died mid-way (no heartbeat) and give user messages that were
    never picked up a failed reply; the page is told each time (reply_watch)."""
    failed = []
    for reply in reply_watch.lost_replies(now):
        if not _run(reply_watch.is_alive(reply.pk)) and reply_watch.mark_failed(reply, "reply_lost"):
            failed.append(reply)
    for question in reply_watch.unanswered_questions(now):
        reply = reply_watch.failed_reply_for(question, "reply_lost")
        if reply is not None:
            failed.append(reply)
    for reply in failed:
        _run(reply_watch.notify_failed(reply, "reply_lost"))
    if failed:
        log.info("failed %d lost replies", len(failed))
    return len(failed)


def recover_stream_closes(now=None) -> int:
    """Queue the close again of every stream whose close was claimed long enough ago and never
    confirmed. Each is re-claimed first (the claim time moves on), so one pass of the reaper
    queues it once, and the next pass only if that close too went unconfirmed."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.STREAM_CLOSE_RECOVERY_SECONDS)
    recovered = 0
    for conversation in Conversation.objects.stream_close_unconfirmed(claimed_before=cutoff):
        reclaimed = Conversation.objects.filter(
            pk=conversation.pk, stream_closed_at=conversation.stream_closed_at,
            provider_stream_id=conversation.provider_stream_id,
        ).exclude(stream_close_confirmed_id=F("provider_stream_id")).update(stream_closed_at=now)
        if reclaimed:
            log.warning("conversation %s: stream %s was never confirmed closed; closing again",
                        conversation.pk, conversation.provider_stream_id)
            stream_closing.enqueue_close(conversation.pk)
            recovered += 1
    return recovered
