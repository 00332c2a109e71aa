"""The live socket calls what the rest of the server provides: per-user quotas in Redis, the reply
queued through `replies.aenqueue_reply` (a broker outage is an error code, not a dead socket),
stream closes confirmed through `stream_closing`, and speech recognised in the avatar's language.
Real Redis channel layer and Celery worker; only the vendors are fake, at the wire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from kombu.exceptions import OperationalError

from conversations.models import Conversation, Message
from streaming import quota_store
from streaming.tasks import generate_reply, recover_stream_closes

from .conftest import wait_for
from .fakes import ANSWER_SDP, FakeDeepgram, results
from .test_stream_closing import deletes, failing_deletes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

CANDIDATE = "candidate:842163049 1 udp 1677729535 203.0.113.7 3478 typ srflx raddr 0.0.0.0 rport 0 generation 0"
PCM_100MS = b"\x00\x01" * 1600  # 100 ms of 16 kHz PCM16


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


async def errors(session, until_pong: int) -> list[dict]:
    """Error frames sent before the pong for `until_pong` (sent now)."""
    await session.send(type="ping", t=until_pong)
    while True:
        frame = await session.receive()
        if frame["type"] == "pong" and frame["t"] == until_pong:
            return [m for m in session.seen if m["type"] == "error"]


# 1. Quotas ------------------------------------------------------------------------------------


async def test_typed_turns_over_the_users_quota_are_refused_with_their_code(
    settings, vendors, fake_did, celery_worker, open_session, conversation, alice
):
    settings.CHAT_MESSAGES_PER_MINUTE = 2
    session = await open_session(conversation, alice)
    for text in ("One?", "Two?"):
        await session.send(type="chat.text", text=text)
        assert (await session.expect("transcript.final"))["text"] == text
    await session.send(type="chat.text", text="Three?")
    refused = await session.expect("error")
    assert refused["code"] == "chat_rate_limited" and 1 <= refused["retry_after"] <= 60
    assert not await Message.objects.filter(text="Three?").aexists()
    # Counted in Redis for the user, not on this socket.
    assert (await quota_store.check(alice.pk, "chat_turns")).code == "chat_rate_limited"
    await session.close()


async def test_signaling_frames_over_the_quota_are_refused_before_the_provider_call(
    settings, vendors, fake_did, open_session, conversation, alice
):
    settings.SIGNALING_FRAMES_PER_MINUTE = 2
    session = await open_session(conversation, alice)
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await session.send(type="rtc.ice", candidate=CANDIDATE, sdpMid="0", sdpMLineIndex=0)
    await session.send(type="rtc.ice", candidate=CANDIDATE, sdpMid="0", sdpMLineIndex=0)
    [refused] = await errors(session, until_pong=1)
    assert refused["code"] == "signaling_rate_limited"
    assert len(fake_did.calls("POST", "/sdp")) == 1 and len(fake_did.calls("POST", "/ice")) == 1
    await session.close()


async def test_microphone_audio_past_the_daily_budget_is_refused_once_and_dropped(
    settings, vendors, fake_did, open_session, conversation, alice
):
    settings.AUDIO_SECONDS_PER_DAY = 1
    async with FakeDeepgram([]) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        session = await open_session(conversation, alice)
        for _ in range(30):  # 3 s of audio: the first second is within the budget
            await session.ws.send_to(bytes_data=PCM_100MS)
        [refused] = await errors(session, until_pong=1)
        assert refused["code"] == "audio_quota" and refused["retry_after"] > 60
        # The recogniser got the allowed second and about one more (charged a second at a time).
        assert deepgram.received <= 2 * 32000 + len(PCM_100MS)
        await session.close()


async def test_spoken_turns_over_the_quota_are_refused_and_not_saved(
    settings, vendors, fake_did, celery_worker, open_session, conversation, alice
):
    settings.VOICE_TURNS_PER_MINUTE = 1
    script = [results("What is the moon?", is_final=True, speech_final=True, duration=1.0),
              results("And the sun?", is_final=True, speech_final=True, duration=1.0)]
    async with FakeDeepgram(script, every=3200) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        session = await open_session(conversation, alice)
        await session.ws.send_to(bytes_data=PCM_100MS)
        assert (await session.expect("transcript.final"))["text"] == "What is the moon?"
        await session.ws.send_to(bytes_data=PCM_100MS)
        refused = await session.expect("error")
        assert refused["code"] == "voice_rate_limited"
        assert not await Message.objects.filter(text="And the sun?").aexists()
        await session.close()


# 2. The reply queued through replies.aenqueue_reply ---------------------------------------------


async def test_a_broker_outage_is_reported_and_the_socket_stays_up(
    monkeypatch, vendors, fake_did, celery_worker, open_session, conversation, alice
):
    def broker_down(*args, **kwargs):
        raise OperationalError("[Errno 111] Connection refused")

    session = await open_session(conversation, alice)
    with monkeypatch.context() as patch:
        patch.setattr(generate_reply, "apply_async", broker_down)
        await session.send(type="chat.text", text="Are you there?")
        question = await session.expect("transcript.final")
        refused = await session.expect("error")
        assert refused["code"] == "broker_unavailable"
        done = await session.expect("reply.done")
    assert done["reply_to"] == question["message_id"] and done["error"] == "broker_unavailable"
    failed = await Message.objects.aget(reply_to_id=question["message_id"])
    assert failed.error == "broker_unavailable"

    # The socket is still up, and the next question is answered once the broker is back.
    await session.send(type="ping", t=7)
    assert (await session.expect("pong"))["t"] == 7
    await session.send(type="chat.text", text="And now?")
    await session.expect("transcript.final")
    assert not (await session.expect("reply.done", within=30)).get("error")
    await session.close()


# 3. Stream closes confirmed ---------------------------------------------------------------------


async def test_the_sockets_stream_close_is_confirmed_so_the_reaper_leaves_it(
    vendors, fake_did, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    await conversation.arefresh_from_db()
    stream_id = conversation.provider_stream_id
    await session.send(type="session.end", reason="user")
    await session.expect("session.ended")
    await conversation.arefresh_from_db()
    assert conversation.stream_close_confirmed_id == stream_id
    assert await recover_stream_closes_later() == 0
    assert deletes(fake_did, stream_id) == 1


async def test_a_close_the_provider_fails_is_retried_by_the_worker_and_confirmed(
    vendors, fake_did, celery_worker, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    await conversation.arefresh_from_db()
    stream_id = conversation.provider_stream_id
    failing_deletes(fake_did, times=1)
    await session.send(type="session.end", reason="user")
    await session.expect("session.ended")

    async def confirmed():
        await conversation.arefresh_from_db()
        return conversation.stream_close_confirmed_id == stream_id

    await wait_for(confirmed, within=30)
    assert deletes(fake_did, stream_id) == 1
    assert await recover_stream_closes_later() == 0


async def recover_stream_closes_later() -> int:
    return await sync_to_async(recover_stream_closes)(timezone.now() + timedelta(hours=1))


# 4. Speech recognised in the avatar's language --------------------------------------------------


async def test_speech_is_recognised_in_the_avatars_language(
    settings, vendors, fake_did, open_session, conversation, alice, avatar
):
    avatar.language = "fr-FR"
    await avatar.asave(update_fields=["language"])
    async with FakeDeepgram([]) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        session = await open_session(conversation, alice)
        await session.ws.send_to(bytes_data=PCM_100MS)
        await wait_for(lambda: deepgram.paths)
        assert "language=fr-FR" in deepgram.paths[0] and "model=nova-3" in deepgram.paths[0]
        await session.close()


# 5. The greeting ------------------------------------------------------------------------------


async def test_the_persona_greets_once_per_conversation_when_the_stream_is_live(
    vendors, fake_did, open_session, conversation, alice, persona
):
    persona.greeting = "Hello, I'm Ada! Ask me anything about software."
    await persona.asave(update_fields=["greeting"])
    session = await open_session(conversation, alice)
    assert not fake_did.spoken()  # not before the page has answered the offer
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    started = await session.expect("reply.started")
    line = await Message.objects.aget(pk=started["message_id"])  # saved before it was relayed
    assert line.role == "assistant" and line.text == "Hello, I'm Ada! Ask me anything about software."
    done = await session.expect("reply.done")
    assert done["message_id"] == line.pk and done["sentences"] == 2
    assert fake_did.spoken() == ["Hello, I'm Ada!", "Ask me anything about software."]

    # Not again: a second answer, the stream reporting ready, or another tab taking over.
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await session.send(type="avatar.event", event="stream/ready")
    other = await open_session(conversation, alice)
    await other.send(type="rtc.answer", sdp=ANSWER_SDP)
    await other.send(type="ping", t=1)
    await other.expect("pong")
    await session.close()
    assert len(fake_did.spoken()) == 2
    assert await conversation.messages.filter(role="assistant").acount() == 1
    await other.close()
