"""One provider stream per conversation: a second socket takes the conversation over; the first
is told and closed, and its stream is closed exactly once before the new one opens."""

from __future__ import annotations

import asyncio

import pytest

from conversations.models import Conversation

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


async def test_a_second_socket_takes_the_conversation_over_with_one_stream(
    vendors, fake_did, open_session, conversation, alice
):
    first = await open_session(conversation, alice)
    await conversation.arefresh_from_db()
    first_stream = conversation.provider_stream_id
    second = await open_session(conversation, alice)

    ended = await first.expect("session.ended")
    assert ended["reason"] == "taken_over" and ended["message"]
    closed = await first.ws.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 4409

    await conversation.arefresh_from_db()
    assert conversation.status == "live" and conversation.provider_stream_id != first_stream
    assert [p for m, p in fake_did.paths() if m == "DELETE"] == [f"/talks/streams/{first_stream}"]
    assert fake_did.open_streams() == {conversation.provider_stream_id}

    await second.send(type="ping", t=1)
    assert (await second.expect("pong"))["t"] == 1
    await second.send(type="session.end")
    await second.expect("session.ended")
    assert fake_did.open_streams() == set()
    assert len(fake_did.calls("DELETE")) == 2


async def test_the_first_socket_leaving_after_a_takeover_does_not_end_the_conversation(
    settings, vendors, fake_did, open_session, conversation, alice
):
    settings.DISCONNECT_GRACE_SECONDS = 0
    first = await open_session(conversation, alice)
    second = await open_session(conversation, alice)
    await first.expect("session.ended")
    await first.close()
    await asyncio.sleep(0.3)
    await conversation.arefresh_from_db()
    assert conversation.status == "live"
    assert len(fake_did.open_streams()) == 1
    await second.close()
    await wait_for(lambda: not fake_did.open_streams())


async def test_sockets_arriving_together_leave_one_stream_open(
    settings, vendors, fake_did, open_session, conversation, alice
):
    settings.DISCONNECT_GRACE_SECONDS = 0
    fake_did.create_delay = 0.3  # both are opening their stream at the same time
    sessions = await asyncio.gather(*(open_session(conversation, alice, expect_offer=False)
                                      for _ in range(3)))
    await wait_for(lambda: len(fake_did.calls("POST", "/talks/streams")) >= 1)
    await asyncio.sleep(2.5)
    await conversation.arefresh_from_db()
    assert conversation.status == "live"
    assert fake_did.open_streams() == {conversation.provider_stream_id}
    for session in sessions:
        await session.close()
    await wait_for(lambda: not fake_did.open_streams())
