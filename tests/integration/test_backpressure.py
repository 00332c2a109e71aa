"""A slow recogniser must not hold up the socket, and a present user is never reaped."""

from __future__ import annotations

import asyncio

import pytest

from conversations.models import Conversation
from streaming import consumers, listening

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


class StuckRecogniser:
    """A speech-to-text session whose sends block until `release` is set (a slow link)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.received: list[bytes] = []
        self.closed = asyncio.Event()

    async def start(self) -> None:
        pass

    async def send(self, pcm: bytes) -> None:
        await self.release.wait()
        self.received.append(pcm)

    async def close(self) -> None:
        self.closed.set()

    async def __aiter__(self):
        await self.closed.wait()
        return
        yield


def frame(n: int) -> bytes:
    """100 ms of 16 kHz PCM16, its first sample numbering it."""
    return n.to_bytes(2, "little") + b"\x00\x00" * 1599


async def test_a_stuck_recogniser_does_not_delay_pings_and_gets_the_newest_audio(
    monkeypatch, vendors, fake_did, open_session, conversation, alice
):
    stuck = StuckRecogniser()
    monkeypatch.setattr(consumers, "stt_session", lambda **options: stuck)
    session = await open_session(conversation, alice)
    for n in range(50):  # 5 s of audio; the recogniser takes none of it
        await session.ws.send_to(bytes_data=frame(n))
    await session.send(type="ping", t=1)
    assert (await session.expect("pong"))["t"] == 1
    assert stuck.received == []

    stuck.release.set()
    await session.send(type="ping", t=2)
    await session.expect("pong")
    for _ in range(50):
        await asyncio.sleep(0.01)
    numbers = [int.from_bytes(pcm[:2], "little") for pcm in stuck.received]
    bound = int(listening.AUDIO_QUEUE_SECONDS / 0.1)
    assert numbers[-1] == 49  # the newest audio is kept ...
    assert len(numbers) <= bound + 1  # ... the oldest dropped (one frame was in flight)
    assert numbers == sorted(numbers)
    await session.close()


async def test_pings_and_audio_keep_a_listening_user_from_being_reaped(
    monkeypatch, vendors, fake_did, open_session, conversation, alice
):
    monkeypatch.setattr(consumers, "TOUCH_EVERY", 0.0)
    stuck = StuckRecogniser()
    stuck.release.set()
    monkeypatch.setattr(consumers, "stt_session", lambda **options: stuck)
    session = await open_session(conversation, alice)
    long_ago = (await Conversation.objects.aget(pk=conversation.pk)).last_activity.replace(year=2000)

    for send in (lambda: session.send(type="ping", t=1),
                 lambda: session.ws.send_to(bytes_data=frame(1))):
        await Conversation.objects.filter(pk=conversation.pk).aupdate(last_activity=long_ago)
        await send()
        await session.send(type="ping", t=9)  # and wait until both were handled
        await session.expect("pong")
        assert (await Conversation.objects.aget(pk=conversation.pk)).last_activity.year > 2000
    await session.close()
