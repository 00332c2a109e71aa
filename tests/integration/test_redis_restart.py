"""Every Redis client of the product survives a Redis restart: the first command after it
reconnects instead of failing on a dead pooled connection (config/redis_retry.py).

Found by fault injection (tests/e2e/test_faults.py): after a restart, each stale connection
failed its first command, so a live socket's `group_add` crashed its consumer (close 1011).
The async clients (channel layer, streaming.redis_client) failed these tests before the fix;
redis-py's sync pool already checks a connection when it is checked out, so the sync tests
(start locks, cache) guard that it stays so.

A restarted Redis is empty, too: a live socket's channel-layer group and its presence key are
gone. The socket re-joins both on its next ping and before it asks for a reply
(streaming/presence.py `rejoin`); the last tests below failed before it did.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone
from kombu import Connection, Queue

from conversations import services
from conversations.models import Conversation, Message
from launcher.backing import free_port, start_embedded_redis
from launcher.processes import stop
from streaming import events, presence, redis_client, replies, reply_watch

from .conftest import wait_for


@pytest.fixture
def restartable_redis(tmp_path):
    """A private redis-server and a function that restarts it (empty) on the same port."""
    port = free_port()
    box = {}

    def start():
        box["child"], box["url"] = start_embedded_redis(
            port, data_dir=tmp_path, log=tmp_path / "redis.log", env={})
        return box["url"]

    def restart(down_for: float = 0.0):
        stop([box["child"]])
        time.sleep(down_for)  # longer than the clients' own retries (config/redis_retry.py)
        start()
        time.sleep(0.2)

    start()
    yield box["url"], restart
    stop([box["child"]])


async def test_channel_layer_survives_a_redis_restart(restartable_redis):
    url, restart = restartable_redis
    host = {**settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0], "address": url}
    layer = RedisChannelLayer(hosts=[host])
    await layer.group_add("conversation.x", "specific.a")
    await asyncio.to_thread(restart)
    await layer.group_add("conversation.x", "specific.b")  # raised ConnectionError before
    await layer.send("specific.b", {"type": "relay"})
    assert (await layer.receive("specific.b"))["type"] == "relay"
    await layer.flush()


async def test_shared_async_client_survives_a_redis_restart(restartable_redis, settings):
    url, restart = restartable_redis
    settings.REDIS_URL = url
    redis_client._clients.pop(id(asyncio.get_running_loop()), None)
    client = redis_client.client()
    await client.set("k", 1)
    await asyncio.to_thread(restart)
    assert await client.get("k") is None  # reconnected to the empty Redis, no ConnectionError
    redis_client._clients.pop(id(asyncio.get_running_loop()), None)
    await client.aclose()


def test_session_start_lock_client_survives_a_redis_restart(restartable_redis, settings):
    url, restart = restartable_redis
    settings.REDIS_URL = url
    services._redis.cache_clear()
    try:
        services._redis().set("k", 1)
        restart()
        assert services._redis().get("k") is None
    finally:
        services._redis.cache_clear()


def test_cache_survives_a_redis_restart(restartable_redis):
    url, restart = restartable_redis
    cache = RedisCache(url, {"OPTIONS": settings.CACHES["default"].get("OPTIONS", {})})
    cache.set("k", 1)
    restart()
    assert cache.get("k") is None


@pytest.fixture
def live_on_restartable_redis(restartable_redis, settings):
    """Presence, quotas and the channel layer on the restartable Redis (not the broker: Celery
    keeps REDIS_URL's, so a test's worker is not restarted with it)."""
    url, restart = restartable_redis
    settings.REDIS_URL = url
    layer = settings.CHANNEL_LAYERS["default"]
    host = {**layer["CONFIG"]["hosts"][0], "address": url}
    settings.CHANNEL_LAYERS = {"default": {**layer, "CONFIG": {**layer["CONFIG"], "hosts": [host]}}}
    settings.DISCONNECT_GRACE_SECONDS = 0
    redis_client._clients.clear()
    yield restart
    redis_client._clients.clear()


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


@pytest.mark.django_db(transaction=True)
async def test_a_live_socket_rejoins_its_group_and_presence_on_the_ping_after_a_redis_restart(
    live_on_restartable_redis, vendors, fake_did, open_session, conversation, alice
):
    restart = live_on_restartable_redis
    session = await open_session(conversation, alice)
    socket = await presence.holder(conversation.pk)
    assert socket is not None
    await asyncio.to_thread(restart)
    assert await presence.holder(conversation.pk) is None  # the restart lost it

    await session.send(type="ping", t=1)
    assert (await session.expect("pong"))["t"] == 1
    await wait_for(lambda: presence.holder(conversation.pk))
    assert await presence.holder(conversation.pk) == socket
    # What the reaper or a reply task publishes reaches the socket again.
    await events.publish(events.group_name(conversation.pk), "error", code="reply_lost",
                         message="The answer was lost.")
    assert (await session.expect("error"))["code"] == "reply_lost"
    await session.send(type="session.end", reason="user")
    await session.expect("session.ended")
    await session.close()


@pytest.mark.django_db(transaction=True)
async def test_a_question_typed_after_a_redis_restart_gets_its_reply(
    live_on_restartable_redis, vendors, fake_did, celery_worker, open_session, conversation,
    alice
):
    restart = live_on_restartable_redis
    session = await open_session(conversation, alice)
    await asyncio.to_thread(restart)

    await session.send(type="chat.text", text="Are you still there?")  # no ping in between
    final = await session.expect("transcript.final")
    started = await session.expect("reply.started")
    done = await session.expect("reply.done")
    assert started["reply_to"] == final["message_id"] == done["reply_to"]
    assert not done.get("error")
    await session.close()


@pytest.mark.django_db(transaction=True)
async def test_a_reply_done_published_while_redis_was_restarting_reaches_the_page_on_its_ping(
    live_on_restartable_redis, vendors, fake_did, open_session, conversation, alice, monkeypatch
):
    restart = live_on_restartable_redis

    enqueued = asyncio.Event()

    async def queued(conversation_id, message_id):  # the worker's part is played below
        enqueued.set()
        return None

    monkeypatch.setattr(replies, "aenqueue_reply", queued)
    session = await open_session(conversation, alice)
    await session.send(type="chat.text", text="Are you still there?")
    question = (await session.expect("transcript.final"))["message_id"]
    # The socket re-joins just before it enqueues (after transcript.final is sent): restarting
    # before that re-join would let it repair the loss, and the ping would have nothing to catch.
    await asyncio.wait_for(enqueued.wait(), 10)
    await asyncio.to_thread(restart)
    # Meanwhile the worker finished the reply; its reply.done went to a group with no socket.
    reply = await Message.objects.acreate(
        conversation=conversation, role="assistant", source="llm", reply_to_id=question,
        text="Yes, I am here.", completed_at=timezone.now())

    await session.send(type="ping", t=1)
    done = await session.expect("reply.done")
    assert (done["message_id"], done["reply_to"], done["text"]) == (reply.pk, question,
                                                                    "Yes, I am here.")
    assert not done["interrupted"] and "error" not in done
    await session.send(type="ping", t=2)  # once only: the attachment is back
    await session.expect("pong")
    await session.send(type="session.end", reason="user")
    await session.expect("session.ended")
    assert [m["type"] for m in session.seen].count("reply.done") == 1
    await session.close()


async def test_re_asserting_presence_does_not_undo_a_takeover(restartable_redis, settings):
    url, _ = restartable_redis
    settings.REDIS_URL = url
    redis_client._clients.clear()
    assert await presence.reassert("c1", "first") == presence.LOST  # gone: written back
    assert await presence.holder("c1") == "first"
    assert await presence.reassert("c1", "first") == presence.HELD
    assert await presence.take("c1", "second") == "first"
    assert await presence.reassert("c1", "first") == presence.TAKEN
    assert await presence.holder("c1") == "second"
    await redis_client.client().aclose()
    redis_client._clients.clear()


async def test_a_reply_heartbeat_beats_on_after_redis_was_down_for_a_while(
    restartable_redis, settings
):
    """Else the reaper would fail a reply that is still running, as lost."""
    url, restart = restartable_redis
    settings.REDIS_URL = url
    redis_client._clients.clear()
    async with reply_watch.heartbeat(42):
        await wait_for(lambda: reply_watch.is_alive(42))
        await asyncio.to_thread(restart, down_for=2 * reply_watch.BEAT_EVERY)
        await wait_for(lambda: reply_watch.is_alive(42), within=3 * reply_watch.BEAT_EVERY)
    assert not await reply_watch.is_alive(42)
    await redis_client.client().aclose()
    redis_client._clients.clear()


def test_closing_a_collected_broker_channel_with_an_unacked_message_is_a_connection_error(
    settings
):
    """What Celery leaves when the broker drops mid-task (acks_late) while the worker waits in
    BRPOP: that channel's first close failed half-way, and collecting the connection made the
    transport forget it. Closing the channel again must fail as a connection error, which
    Celery ignores, not as the AttributeError that stopped the worker (config/kombu_redis.py)."""
    queue = Queue(f"test-collect-{uuid.uuid4().hex[:8]}", auto_delete=True)
    connection = Connection(settings.CELERY_BROKER_URL)
    channel = connection.channel()
    with connection.Producer(channel) as producer:
        producer.publish({"reply": 1}, routing_key=queue.name, declare=[queue])
    message = queue(channel).get(no_ack=False)  # delivered, not acknowledged: a task in flight
    assert message is not None
    connection.transport.client = None  # what Connection.collect() does to the transport
    try:
        connection.maybe_close_channel(channel)  # raised AttributeError ('hostname') before
        assert channel.closed
    finally:
        with Connection(settings.CELERY_BROKER_URL) as cleanup:
            client = cleanup.default_channel.client
            client.hdel("unacked", message.delivery_tag)
            client.zrem("unacked_index", message.delivery_tag)
            queue(cleanup.default_channel).delete()


@pytest.mark.django_db(transaction=True)
async def test_a_closed_socket_never_attaches_its_conversation_again(
    vendors, fake_did, open_session, conversation, alice, settings, monkeypatch
):
    # The socket's background tasks (the opening stream, the greeting) may still run after it
    # closed, and each re-joins before it queues a reply. Re-attaching there kept
    # `end_abandoned` from ever ending the conversation (tests/e2e/test_faults.py, browser killed).
    from streaming import consumers

    settings.DISCONNECT_GRACE_SECONDS = 30
    scheduled, opened = [], []
    monkeypatch.setattr(consumers, "end_abandoned", type("Task", (), {
        "apply_async": staticmethod(lambda args, countdown: scheduled.append((args, countdown))),
    }))
    connect = consumers.SessionConsumer.connect

    async def recording_connect(self):
        opened.append(self)
        await connect(self)

    monkeypatch.setattr(consumers.SessionConsumer, "connect", recording_connect)
    session = await open_session(conversation, alice)
    assert await presence.is_attached(conversation.pk)
    await session.close()
    assert scheduled == [((str(conversation.pk),), 30)]
    assert not await presence.is_attached(conversation.pk)

    await opened[0].rejoin(catch_up=True)  # what a task left running would do
    assert not await presence.is_attached(conversation.pk)
