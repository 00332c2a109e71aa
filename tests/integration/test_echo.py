"""The avatar's own words heard back through the microphone, through the live session: the real
Redis channel layer and Celery worker, fake vendors at the wire (streaming/echo.py is the rule)."""

from __future__ import annotations

import pytest

from conversations.models import Conversation, Message

from .fakes import FakeDeepgram, results

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

SILENCE = b"\x00\x00" * 1600  # 100 ms of 16 kHz PCM16


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


async def test_the_avatars_words_heard_back_neither_stop_it_nor_are_answered(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    # FakeGroq's reply: "Hello there! The moon is about 384,000 kilometres away. It takes ..."
    script = [
        results("the moon is about", is_final=False, speech_final=False),
        results("The moon is about 384,000 kilometres away.", is_final=True, speech_final=True),
        results("Wait, what about Mars?", is_final=True, speech_final=True, start=3.0),
    ]
    async with FakeDeepgram(script, every=3200) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        session = await open_session(conversation, alice)
        await session.send(type="chat.text", text="How far is the moon?")
        question = await session.expect("transcript.final")
        await session.expect("reply.done")  # all written; the avatar says it sentence by sentence
        await session.send(type="avatar.event", event="stream/started")
        assert (await session.expect("avatar.state"))["state"] == "speaking"
        for _ in range(3):
            await session.ws.send_to(bytes_data=SILENCE)
        heard = await session.expect("transcript.final")  # the user's own words, at last
        assert heard["text"] == "Wait, what about Mars?" and heard["source"] == "voice"

    before = session.seen[:session.seen.index(heard)]
    # The echo was not shown as the user's, and the avatar went on until the user spoke.
    assert not [m for m in before if m["type"] in ("transcript.interim", "transcript.final")
                and m.get("source") != "text"]
    assert [m["state"] for m in before if m["type"] == "avatar.state"] == ["speaking", "idle"]
    assert [m["type"] for m in before].count("avatar.interrupt") == 1
    said = [m.text async for m in Message.objects.filter(
        conversation=conversation, role=Message.Role.USER).order_by("pk")]
    assert said == ["How far is the moon?", "Wait, what about Mars?"]
    assert question["message_id"] != heard["message_id"]
    await session.close()
