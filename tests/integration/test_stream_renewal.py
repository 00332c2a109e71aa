"""D-ID Talks/Clips streams end after 5 quiet minutes and D-ID documents no keep-alive call for
them (https://docs.d-id.com/reference/talks-streams-overview): while the page is attached, the
socket replaces a quiet stream shortly before that. Real consumer, Redis and Celery worker; D-ID
faked at the wire (fakes.FakeDID); the limit is shortened to a few seconds here."""

from __future__ import annotations

import asyncio

import pytest

from conversations.models import Conversation, Message
from streaming import stream_lifetimes
from streaming.consumers import SessionConsumer

from .conftest import wait_for
from .fakes import ANSWER_SDP

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

LASTING = stream_lifetimes.StreamLifetime(300, 300, configurable=False, keep_alive=False,
                                          renew_before_end=True)


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


def short_lifetime(monkeypatch, seconds: int) -> None:
    """Talks streams last `seconds` quiet seconds (replaced after half of them)."""
    monkeypatch.setitem(stream_lifetimes.LIFETIMES, "did_talks", stream_lifetimes.StreamLifetime(
        seconds, seconds, configurable=False, keep_alive=False, renew_before_end=True))


def talks_to(fake_did, stream_id: str) -> list[dict]:
    return [b for b in fake_did.calls("POST", f"/talks/streams/{stream_id}") if b.get("script")]


async def stream_id_of(conversation) -> str:
    return (await Conversation.objects.aget(pk=conversation.pk)).provider_stream_id


async def test_a_talks_conversation_outlives_its_stream_on_a_new_one_offered_without_an_error(
    settings, vendors, fake_did, celery_worker, open_session, conversation, alice, monkeypatch
):
    settings.DISCONNECT_GRACE_SECONDS = 0
    short_lifetime(monkeypatch, 2)
    session = await open_session(conversation, alice)
    first = await stream_id_of(conversation)
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await session.send(type="chat.text", text="How far is the moon?")
    await session.expect("reply.done")
    assert talks_to(fake_did, first)

    await session.expect("stream.replacing", within=10)
    await session.expect("rtc.offer", within=10)  # the replacement, after a quiet second
    monkeypatch.setitem(stream_lifetimes.LIFETIMES, "did_talks", LASTING)  # one replacement only
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    second = await stream_id_of(conversation)
    assert second and second != first
    conversation = await Conversation.objects.aget(pk=conversation.pk)
    assert conversation.status == Conversation.Status.LIVE and conversation.stream_closed_at is None
    await wait_for(lambda: fake_did.calls("POST", f"/talks/streams/{second}/sdp"))
    assert [p for m, p in fake_did.paths() if m == "DELETE"] == [f"/talks/streams/{first}"]

    # The same conversation goes on, on the new stream.
    await session.send(type="chat.text", text="And the sun?")
    assert not (await session.expect("reply.done"))["interrupted"]
    assert talks_to(fake_did, second)
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 2
    assert not [m for m in session.seen if m["type"] in ("session.ended", "error")], session.seen

    await session.close()
    assert fake_did.open_streams() == set()
    for stream_id in (first, second):
        assert len(fake_did.calls("DELETE", f"/talks/streams/{stream_id}")) == 1


async def test_a_stream_is_not_replaced_while_a_reply_is_written_or_the_avatar_speaks(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice,
    monkeypatch
):
    """Limit 4 s: due after 2 quiet seconds; a reply written over 3 s and an avatar speaking for
    3 s both hold it off, and it comes once the avatar is done."""
    settings.DISCONNECT_GRACE_SECONDS = 0
    short_lifetime(monkeypatch, 4)
    fake_groq.delay_per_chunk = 0.3  # eleven chunks: the reply is written over about 3 s
    session = await open_session(conversation, alice)
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await session.send(type="chat.text", text="How far is the moon?")
    await session.expect("reply.done", within=20)
    await session.send(type="avatar.event", event="stream/started")
    await asyncio.sleep(3)  # speaking, past the 2 s at which a quiet stream would go
    kinds = [m["type"] for m in session.seen]
    assert "stream.replacing" not in kinds and kinds.count("rtc.offer") == 1, kinds
    assert fake_did.calls("DELETE") == []

    await session.send(type="avatar.event", event="stream/done")
    await session.expect("stream.replacing", within=10)
    monkeypatch.setitem(stream_lifetimes.LIFETIMES, "did_talks", LASTING)
    await session.expect("rtc.offer")
    await session.close()
    assert fake_did.open_streams() == set()


async def test_a_question_asked_during_the_swap_is_answered_on_the_new_stream(
    settings, vendors, fake_did, celery_worker, open_session, conversation, alice, monkeypatch
):
    settings.DISCONNECT_GRACE_SECONDS = 0
    short_lifetime(monkeypatch, 2)
    session = await open_session(conversation, alice)
    first = await stream_id_of(conversation)
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    fake_did.create_delay = 1.5  # D-ID takes its time to open the new stream
    await session.expect("stream.replacing", within=10)
    monkeypatch.setitem(stream_lifetimes.LIFETIMES, "did_talks", LASTING)
    await session.send(type="chat.text", text="How far is the moon?")
    assert (await session.expect("transcript.final"))["text"] == "How far is the moon?"
    await session.expect("rtc.offer")
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    assert not (await session.expect("reply.done"))["interrupted"]
    second = await stream_id_of(conversation)
    assert second != first
    assert talks_to(fake_did, second) and not talks_to(fake_did, first)
    assert not [m for m in session.seen if m["type"] == "error"], session.seen
    await session.close()
    assert fake_did.open_streams() == set()


async def test_opening_the_stream_again_in_the_same_socket_needs_no_synchronous_query(
    settings, vendors, fake_did, open_session, conversation, alice, monkeypatch
):
    """Every caller of open_stream may call it again: the avatar stays cached on the
    conversation (a lazy load there would be a synchronous query in async code)."""
    settings.DISCONNECT_GRACE_SECONDS = 0
    consumers: list[SessionConsumer] = []
    opening = SessionConsumer.open_stream

    async def recording(self):
        consumers.append(self)
        await opening(self)
    monkeypatch.setattr(SessionConsumer, "open_stream", recording)
    session = await open_session(conversation, alice)
    first = await stream_id_of(conversation)
    [consumer] = consumers

    await consumer.open_stream()  # again, straight away: no reload of the avatar first
    await session.expect("rtc.offer")
    second = await stream_id_of(conversation)
    assert second != first
    assert [p for m, p in fake_did.paths() if m == "DELETE"] == [f"/talks/streams/{first}"]
    assert not [m for m in session.seen if m["type"] in ("error", "session.ended")], session.seen
    await session.close()
    assert fake_did.open_streams() == set()
