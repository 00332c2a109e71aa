"""A reply that cannot complete is marked failed and the page is told (an error, then the
reply.done it waits for): a worker killed mid-reply, a task never picked up, a broker that is
down. A redelivered task never speaks a reply twice, and a reply cancelled or over budget never
calls the LLM."""

import asyncio
import uuid
from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.utils import timezone

from conversations.models import Conversation, Message
from streaming import cancellation, events, quota_store, reply_watch
from streaming.providers.registry import avatar_provider_for, llm_client
from streaming.replies import aenqueue_reply, generate
from streaming.tasks import generate_reply, reap_idle_sessions

from .test_reaper import stream_state

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, status="live",
                                       provider=avatar.provider, **stream_state("strm_reply"))


def ask(conversation, text="How far is the moon?", *, ago=0) -> Message:
    return Message.objects.create(
        conversation=conversation, role="user", source="text", text=text,
        created_at=timezone.now() - timedelta(seconds=ago))


class Page:
    """What the conversation's sockets would receive from its channel-layer group."""

    def __init__(self, conversation):
        self.group = events.group_name(conversation.pk)

    async def __aenter__(self):
        self.layer = get_channel_layer()
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        return self

    async def __aexit__(self, *exc):
        await self.layer.group_discard(self.group, self.channel)

    async def next(self, within=5.0) -> dict:
        event = await asyncio.wait_for(self.layer.receive(self.channel), within)
        return event["message"]


async def run_generate(conversation, question):
    async with llm_client() as llm, avatar_provider_for(conversation.avatar) as provider:
        return await generate(str(conversation.pk), question.pk, llm=llm, avatar_provider=provider)


def run_reply_task(conversation_id: str, message_id: int) -> dict:
    """The reply task's body, run as a worker runs it: its thread's database connection closed
    after (Celery's worker does that after each task), or it outlives the test database."""
    try:
        return generate_reply.run(conversation_id, message_id)
    finally:
        connections.close_all()


def test_the_reply_task_goes_back_to_the_queue_when_its_worker_dies():
    assert generate_reply.acks_late is True
    assert generate_reply.reject_on_worker_lost is True


async def test_a_redelivered_reply_whose_worker_died_is_failed_not_spoken_twice(
    vendors, fake_did, fake_groq, conversation
):
    question = await sync_to_async(ask)(conversation)
    # The first attempt saved part of its answer, then its worker was killed (no heartbeat).
    lost = await Message.objects.acreate(
        conversation=conversation, role="assistant", source="llm", text="Hello there!",
        reply_to=question, task_started_at=timezone.now())
    async with Page(conversation) as page:
        result = await run_generate(conversation, question)
        error, done = await page.next(), await page.next()
    assert result.message_id == lost.pk and result.error == "reply_lost"
    assert fake_groq.requests == [] and fake_did.spoken() == []
    await lost.arefresh_from_db()
    assert lost.error == "reply_lost" and lost.interrupted and lost.completed_at
    assert error["type"] == "error" and error["code"] == "reply_lost"
    assert done == {"type": "reply.done", "message_id": lost.pk, "reply_to": question.pk,
                    "sentences": 0, "text": "Hello there!", "interrupted": True,
                    "error": "reply_lost"}


async def test_a_redelivered_reply_that_had_completed_does_nothing(
    vendors, fake_did, fake_groq, conversation
):
    question = await sync_to_async(ask)(conversation)
    first = await run_generate(conversation, question)
    calls = len(fake_groq.requests)
    again = await run_generate(conversation, question)
    assert again.message_id == first.message_id and again.error == ""
    assert len(fake_groq.requests) == calls
    assert await Message.objects.filter(reply_to=question).acount() == 1


async def test_the_reaper_fails_a_reply_whose_worker_died_and_spares_a_running_one(
    conversation
):
    question, other = await sync_to_async(ask)(conversation), await sync_to_async(ask)(conversation)
    old = timezone.now() - timedelta(seconds=reply_watch.HEARTBEAT_TTL + 5)
    dead = await Message.objects.acreate(conversation=conversation, role="assistant",
                                         source="llm", text="It is", reply_to=question,
                                         created_at=old)
    running = await Message.objects.acreate(conversation=conversation, role="assistant",
                                            source="llm", text="", reply_to=other, created_at=old)
    async with Page(conversation) as page, reply_watch.heartbeat(running.pk):
        await sync_to_async(reap_idle_sessions)()
        error, done = await page.next(), await page.next()
    assert error["code"] == "reply_lost"
    assert done["type"] == "reply.done" and done["message_id"] == dead.pk and done["interrupted"]
    await dead.arefresh_from_db()
    await running.arefresh_from_db()
    assert dead.error == "reply_lost" and dead.completed_at is not None
    assert running.error == "" and running.completed_at is None


async def test_the_reaper_answers_a_question_whose_task_never_started(conversation):
    stale = await sync_to_async(ask)(conversation, ago=reply_watch.START_DEADLINE + 5)
    fresh = await sync_to_async(ask)(conversation, "And the sun?")
    async with Page(conversation) as page:
        await sync_to_async(reap_idle_sessions)()
        error, done = await page.next(), await page.next()
    reply = await Message.objects.aget(reply_to=stale)
    assert reply.error == "reply_lost" and reply.role == "assistant"
    assert error["code"] == "reply_lost" and done["reply_to"] == stale.pk
    assert not await Message.objects.filter(reply_to=fresh).aexists()


async def test_a_reply_cancelled_while_it_waited_in_the_queue_never_calls_the_llm(
    vendors, fake_did, fake_groq, conversation
):
    question = await sync_to_async(ask)(conversation)
    await cancellation.cancel(conversation.pk, reply_to=question.pk)
    result = await run_generate(conversation, question)
    assert result.interrupted and fake_groq.requests == [] and fake_did.spoken() == []


async def test_the_daily_token_budget_is_counted_and_then_refuses_before_the_llm(
    settings, vendors, fake_did, fake_groq, django_user_model, avatar
):
    settings.LLM_TOKENS_PER_DAY = 60
    user = await django_user_model.objects.acreate(username=f"budget-{uuid.uuid4().hex[:6]}")
    conversation = await Conversation.objects.acreate(
        user=user, avatar=avatar, status="live", **stream_state("strm_budget"))
    first = await run_generate(conversation, await sync_to_async(ask)(conversation))
    assert first.error == "" and len(fake_groq.requests) == 1
    # The persona prompt, the question and the answer cost more than 60 tokens together.
    refusal = await quota_store.check(user.pk, "llm_tokens")
    assert refusal is not None and refusal.code == "token_quota"

    async with Page(conversation) as page:
        second = await run_generate(conversation, await sync_to_async(ask)(conversation, "More?"))
        kinds = [(await page.next())["type"] for _ in range(3)]
    assert second.error == "token_quota" and len(fake_groq.requests) == 1
    assert kinds == ["reply.started", "error", "reply.done"]


async def test_a_broker_that_is_down_gives_a_code_and_a_failed_reply(
    monkeypatch, conversation, caplog
):
    from config.celery import app

    real = generate_reply.apply_async

    def through_a_dead_broker(*args, **kwargs):
        with app.connection_for_write("redis://127.0.0.1:1/0") as connection:
            return real(*args, connection=connection, **kwargs)

    monkeypatch.setattr(generate_reply, "apply_async", through_a_dead_broker)
    question = await sync_to_async(ask)(conversation)
    assert await asyncio.wait_for(aenqueue_reply(conversation.pk, question.pk), 10) == (
        "broker_unavailable")
    reply = await Message.objects.aget(reply_to=question)
    assert reply.error == "broker_unavailable" and reply.completed_at is not None
    assert "could not queue the reply" in caplog.text


async def test_a_reply_task_that_crashes_fails_its_reply_and_tells_the_page(
    monkeypatch, vendors, fake_groq, conversation
):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("streaming.replies.trim_history", broken)
    question = await sync_to_async(ask)(conversation)
    async with Page(conversation) as page:
        with pytest.raises(RuntimeError):
            await sync_to_async(run_reply_task, thread_sensitive=False)(
                str(conversation.pk), question.pk)
        kinds = [(await page.next())["type"] for _ in range(3)]
    assert kinds == ["reply.started", "error", "reply.done"]
    reply = await Message.objects.aget(reply_to=question)
    assert reply.error == "reply_failed" and reply.completed_at is not None
    assert fake_groq.requests == []
