"""Every provider stream is closed exactly once: a failing close is retried with backoff, a close
claimed by a closer that then died is found and finished by the reaper, and a redelivered close
does not close twice."""

import asyncio
import time
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from conversations.models import Conversation
from streaming.tasks import close_stream, end_abandoned, reap_idle_sessions

from .conftest import wait_for
from .test_reaper import stream_state

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


def failing_deletes(fake_did, times: int):
    """D-ID answers the first `times` DELETEs with a 503, as when it is briefly unavailable."""
    original = fake_did.handler
    failures = {"left": times}

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE" and failures["left"] > 0:
            failures["left"] -= 1
            with fake_did.lock:
                fake_did.requests.append(("DELETE-FAILED", request.url.path, {}))
            return httpx.Response(503, json={"kind": "ServiceUnavailable",
                                             "description": "Service Unavailable"})
        return await original(request)

    fake_did.handler = handler


def deletes(fake_did, stream_id: str) -> int:
    return fake_did.paths().count(("DELETE", f"/talks/streams/{stream_id}"))


def wait_until_confirmed(conversation: Conversation, within: float) -> None:
    """The confirmation is written after the provider answered the DELETE, so seeing the DELETE at
    the fake is not enough. Polled synchronously: the ORM refuses calls from inside an event loop."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        conversation.refresh_from_db()
        if conversation.stream_close_confirmed_id:
            return
        time.sleep(0.05)
    raise AssertionError("the stream close was never confirmed")


def test_an_abandoned_conversation_whose_close_fails_is_retried_until_closed(
    vendors, fake_did, celery_worker, alice, avatar
):
    conversation = Conversation.objects.create(
        user=alice, avatar=avatar, status="live", **stream_state("strm_flaky"))
    failing_deletes(fake_did, times=2)

    assert end_abandoned(str(conversation.pk)) is True  # must not raise the provider's error

    wait_until_confirmed(conversation, within=30)
    assert conversation.status == "ended" and conversation.end_reason == "disconnect"
    assert conversation.stream_close_confirmed_id == "strm_flaky"
    assert [m for m, _ in fake_did.paths()].count("DELETE-FAILED") == 2
    assert deletes(fake_did, "strm_flaky") == 1


def test_a_close_claimed_by_a_closer_that_died_is_finished_by_the_reaper(
    settings, vendors, fake_did, celery_worker, alice, avatar
):
    settings.STREAM_CLOSE_RECOVERY_SECONDS = 60
    conversation = Conversation.objects.create(
        user=alice, avatar=avatar, status="ended", end_reason="user", **stream_state("strm_orphan"))
    # The closer claimed the close, then crashed before calling the provider.
    assert conversation.claim_stream_close()
    reap_idle_sessions()
    asyncio.run(asyncio.sleep(0.5))
    assert deletes(fake_did, "strm_orphan") == 0  # too recent: that closer may still be at work

    Conversation.objects.filter(pk=conversation.pk).update(
        stream_closed_at=timezone.now() - timedelta(seconds=61))
    reap_idle_sessions()
    wait_until_confirmed(conversation, within=15)
    assert conversation.stream_close_confirmed_id == "strm_orphan"

    Conversation.objects.filter(pk=conversation.pk).update(
        stream_closed_at=timezone.now() - timedelta(hours=1))
    reap_idle_sessions()  # confirmed: nothing more to do
    asyncio.run(asyncio.sleep(1.0))
    assert deletes(fake_did, "strm_orphan") == 1


def test_a_redelivered_close_does_not_close_twice(vendors, fake_did, alice, avatar):
    conversation = Conversation.objects.create(
        user=alice, avatar=avatar, status="ended", **stream_state("strm_twice"))
    assert conversation.claim_stream_close()
    assert close_stream.run(str(conversation.pk)) is True
    assert close_stream.run(str(conversation.pk)) is False  # the same message delivered again
    assert deletes(fake_did, "strm_twice") == 1


def test_a_stream_the_provider_no_longer_knows_counts_as_closed(vendors, fake_did, alice, avatar):
    conversation = Conversation.objects.create(
        user=alice, avatar=avatar, status="ended", **stream_state("strm_gone"))
    original = fake_did.handler

    async def gone(request):
        if request.method == "DELETE":
            return httpx.Response(404, json={"kind": "NotFoundError", "description": "not found"})
        return await original(request)

    fake_did.handler = gone
    assert conversation.claim_stream_close()
    assert close_stream.run(str(conversation.pk)) is True
    conversation.refresh_from_db()
    assert conversation.stream_close_confirmed_id == "strm_gone"


async def test_close_claimed_retries_the_stream_it_was_given_not_the_conversations_next_one(
    vendors, fake_did, celery_worker, alice, avatar
):
    from asgiref.sync import sync_to_async

    from streaming.providers.avatar.base import Stream
    from streaming.providers.registry import avatar_provider_for
    from streaming.stream_closing import close_claimed

    conversation = await Conversation.objects.acreate(
        user=alice, avatar=avatar, status="live", **stream_state("strm_old"))
    old = Stream.from_dict(conversation.provider_state)
    assert await sync_to_async(conversation.claim_stream_close)()
    # A reconnect opened a new stream meanwhile.
    await Conversation.objects.filter(pk=conversation.pk).aupdate(
        stream_closed_at=None, **stream_state("strm_new"))
    failing_deletes(fake_did, times=1)
    async with avatar_provider_for(avatar) as provider:
        await close_claimed(conversation, provider, old)
    await wait_for(lambda: deletes(fake_did, "strm_old"), within=15)
    await asyncio.sleep(0.5)
    assert deletes(fake_did, "strm_new") == 0
