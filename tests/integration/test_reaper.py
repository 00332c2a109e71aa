"""The idle-session reaper: ends only idle conversations, closes each provider stream once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation
from streaming.tasks import reap_idle_sessions

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def stream_state(stream_id: str) -> dict:
    return {
        "provider_stream_id": stream_id,
        "provider_session_id": f"sess-{stream_id}",
        "provider_state": {"id": stream_id, "session_id": f"sess-{stream_id}", "offer": None,
                           "ice_servers": [], "provider": "did", "extra": {"kind": "talks"}},
    }


def test_reaper_ends_only_idle_conversations_and_closes_each_stream_once(
    vendors, fake_did, celery_worker, alice, avatar
):
    now = timezone.now()
    idle = Conversation.objects.create(
        user=alice, avatar=avatar, status="live", idle_timeout=60,
        last_activity=now - timedelta(seconds=61), **stream_state("strm_idle"),
    )
    idle_without_stream = Conversation.objects.create(
        user=alice, avatar=avatar, status="connecting", idle_timeout=60,
        last_activity=now - timedelta(seconds=600),
    )
    active = Conversation.objects.create(
        user=alice, avatar=avatar, status="live", idle_timeout=60,
        last_activity=now - timedelta(seconds=30), **stream_state("strm_active"),
    )
    long_timeout = Conversation.objects.create(
        user=alice, avatar=avatar, status="live", idle_timeout=300,
        last_activity=now - timedelta(seconds=120), **stream_state("strm_long"),
    )
    already_ended = Conversation.objects.create(
        user=alice, avatar=avatar, status="ended", end_reason="user", idle_timeout=60,
        last_activity=now - timedelta(days=1), **stream_state("strm_ended"),
    )

    assert reap_idle_sessions() == 2
    assert reap_idle_sessions() == 0  # a second pass finds nothing more to do

    for conversation in (idle, idle_without_stream, active, long_timeout, already_ended):
        conversation.refresh_from_db()
    assert (idle.status, idle.end_reason) == ("ended", "timeout")
    assert (idle_without_stream.status, idle_without_stream.end_reason) == ("ended", "timeout")
    assert active.status == "live" and long_timeout.status == "live"
    assert already_ended.end_reason == "user"

    import asyncio

    asyncio.run(wait_for(lambda: fake_did.calls("DELETE")))
    asyncio.run(asyncio.sleep(1.0))  # give a duplicate close the chance to show up
    assert fake_did.paths().count(("DELETE", "/talks/streams/strm_idle")) == 1
    assert [p for m, p in fake_did.paths() if m == "DELETE"] == ["/talks/streams/strm_idle"]
    assert fake_did.calls("DELETE") == [{"session_id": "sess-strm_idle"}]


def test_idle_since_compares_each_conversation_with_its_own_timeout(alice, avatar):
    # On SQLite `F("idle_timeout") * timedelta` raised "Invalid arguments for operator *" at
    # every beat run, so no idle session was ever ended there.
    now = timezone.now()

    def make(timeout, idle_for, status="live"):
        return Conversation.objects.create(
            user=alice, avatar=avatar, status=status, idle_timeout=timeout,
            last_activity=now - timedelta(seconds=idle_for))

    overdue = [make(30, 31), make(300, 301), make(45, 46, status="connecting")]
    make(30, 29), make(300, 299), make(45, 10)
    make(30, 1000, status="ended")
    assert set(Conversation.objects.idle_since(now)) == set(overdue)
    Conversation.objects.filter(status__in=Conversation.OPEN_STATUSES).delete()
    assert not Conversation.objects.idle_since(now).exists()
