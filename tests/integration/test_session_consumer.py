"""The live session through Channels' WebsocketCommunicator, with the real Redis channel layer and
a real Celery worker; only the vendors are fake, at the wire."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from conversations.models import Conversation, Message
from streaming.sentences import split_sentences

from .conftest import wait_for
from .fakes import (
    ANSWER_SDP,
    ICE_SERVERS,
    OFFER_SDP,
    FakeDeepgram,
    results,
    speech_started,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

CANDIDATE = "candidate:842163049 1 udp 1677729535 203.0.113.7 3478 typ srflx raddr 0.0.0.0 rport 0 generation 0"


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


async def refreshed(conversation: Conversation) -> Conversation:
    await conversation.arefresh_from_db()
    return conversation


async def test_signaling_relays_offer_answer_and_trickled_ice(vendors, fake_did, open_session,
                                                              conversation, alice):
    session = await open_session(conversation, alice, expect_offer=False)
    created = await session.expect("session.created")
    assert created == {"type": "session.created", "conversation": str(conversation.pk),
                       "transport": "webrtc"}
    offer = await session.expect("rtc.offer")
    assert offer["sdp"] == OFFER_SDP and offer["ice_servers"] == ICE_SERVERS
    [create] = fake_did.calls("POST", "/talks/streams")
    assert create["source_url"].endswith(conversation.avatar.source_image.url)
    conversation = await refreshed(conversation)
    assert conversation.status == "live" and conversation.provider_stream_id.startswith("strm_")
    session_id = conversation.provider_session_id

    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await session.send(type="rtc.ice", candidate=CANDIDATE, sdpMid="0", sdpMLineIndex=0,
                       usernameFragment="abcd")
    await session.send(type="rtc.ice", candidate=None, sdpMid=None, sdpMLineIndex=None)
    await session.send(type="ping", t=1)
    assert (await session.expect("pong"))["t"] == 1

    stream_path = f"/talks/streams/{conversation.provider_stream_id}"
    assert fake_did.paths()[1:] == [("POST", f"{stream_path}/sdp"), ("POST", f"{stream_path}/ice"),
                                    ("POST", f"{stream_path}/ice")]
    assert fake_did.calls("POST", "/sdp") == [
        {"answer": {"type": "answer", "sdp": ANSWER_SDP}, "session_id": session_id}
    ]
    first_ice, end_of_candidates = fake_did.calls("POST", "/ice")
    assert first_ice == {"candidate": CANDIDATE, "sdpMid": "0", "sdpMLineIndex": 0,
                         "session_id": session_id}
    assert "candidate" not in end_of_candidates or end_of_candidates["candidate"] is None
    assert end_of_candidates["session_id"] == session_id
    await session.close()


async def test_typed_message_is_saved_answered_and_spoken_sentence_by_sentence(
    vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    await session.send(type="chat.text", text="  How far is the moon?  ")
    final = await session.expect("transcript.final")
    assert final["text"] == "How far is the moon?" and final["source"] == "text"
    question = await Message.objects.aget(pk=final["message_id"])
    assert question.role == "user" and question.text == "How far is the moon?"

    started = await session.expect("reply.started")
    done = await session.expect("reply.done")
    deltas = "".join(m["text"] for m in session.seen if m["type"] == "reply.delta")
    full = "".join(fake_groq.deltas)
    assert deltas == full and done["text"] == full.strip() and not done["interrupted"]

    reply = await Message.objects.aget(pk=started["message_id"])
    assert reply.text == full.strip() and reply.reply_to_id == question.pk
    assert reply.first_token_at and reply.first_sentence_sent_at and reply.completed_at
    assert done["timings"]["first_token_ms"] is not None
    assert fake_did.spoken() == split_sentences(full, clause_first=True)
    assert len(fake_did.spoken()) >= 2
    spoken_body = fake_did.calls("POST", f"/talks/streams/{(await refreshed(conversation)).provider_stream_id}")[0]
    assert spoken_body["script"]["provider"] == {"type": "local", "voice_id": "en_US-joe-medium"}

    # The LLM saw the persona and the question.
    [request] = fake_groq.requests
    assert request["messages"][0]["role"] == "system"
    assert request["messages"][0]["content"].startswith("You are Ada")
    assert request["messages"][-1] == {"role": "user", "content": "How far is the moon?"}
    assert request["stream"] is True
    await session.close()


async def test_voice_transcripts_are_relayed_saved_and_answered(
    settings, vendors, fake_did, celery_worker, open_session, conversation, alice
):
    script = [results("what is", is_final=False, speech_final=False),
              results("What is the moon?", is_final=True, speech_final=True, duration=1.2)]
    async with FakeDeepgram(script, every=3200) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        settings.DEEPGRAM_API_KEY = "dg-test-key"
        session = await open_session(conversation, alice)
        for _ in range(4):
            await session.ws.send_to(bytes_data=b"\x00\x01" * 1600)  # 100 ms of 16 kHz PCM16
        interim = await session.expect("transcript.interim")
        assert interim["text"] == "what is"
        final = await session.expect("transcript.final")
        assert final["text"] == "What is the moon?" and final["source"] == "voice"
        saved = await Message.objects.aget(pk=final["message_id"])
        assert saved.source == "voice" and saved.speech_end_at and saved.transcript_final_at
        assert saved.speech_end_at <= saved.transcript_final_at
        await session.expect("reply.done")
        assert deepgram.authorization == ["Token dg-test-key"]
        assert "encoding=linear16" in deepgram.paths[0] and "sample_rate=16000" in deepgram.paths[0]
        await session.close()


async def test_a_speculative_final_that_had_the_words_is_saved_as_the_turns_mark(
    settings, vendors, fake_did, celery_worker, open_session, conversation, alice
):
    # Unpunctuated, so it starts no preemptive reply (streaming/turns.py `sounds_finished`).
    script = [results("Tell me about the moon", is_final=True, speech_final=False, duration=1.2),
              results("", is_final=True, speech_final=True, duration=0.3)]
    async with FakeDeepgram(script, every=3200) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        session = await open_session(conversation, alice)
        for _ in range(4):
            await session.ws.send_to(bytes_data=b"\x00\x01" * 1600)
        final = await session.expect("transcript.final")
        saved = await Message.objects.aget(pk=final["message_id"])
        assert saved.speculative_final_at is not None
        assert saved.speech_end_at <= saved.speculative_final_at <= saved.transcript_final_at
        done = await session.expect("reply.done")
        assert done["timings"]["speculative_final_ms"] is not None
        await session.close()


async def test_barge_in_stops_the_avatar_and_saves_the_partial_reply(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    fake_groq.delay_per_chunk = 0.25
    script = [results("wait, stop", is_final=False, speech_final=False)]
    async with FakeDeepgram(script, every=3200) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        session = await open_session(conversation, alice)
        await session.send(type="chat.text", text="Tell me a long story.")
        started = await session.expect("reply.started")
        await session.expect("reply.delta")
        await session.send(type="avatar.event", event="stream/started")
        assert (await session.expect("avatar.state"))["state"] == "speaking"
        await session.ws.send_to(bytes_data=b"\x00\x01" * 1600)
        await session.ws.send_to(bytes_data=b"\x00\x01" * 1600)
        assert (await session.expect("avatar.state"))["state"] == "idle"
        done = await session.expect("reply.done")
        assert done["interrupted"] is True
        reply = await Message.objects.aget(pk=started["message_id"])
        assert reply.interrupted and reply.text == done["text"]
        assert len(reply.text) < len("".join(fake_groq.deltas).strip())
        assert reply.avatar_started_at is not None
        assert fake_did.calls("POST", "/interrupt"), "the avatar was not interrupted"
        await session.close()


BAD_FRAMES = [
    ("not json", "bad_json"),
    ("[1, 2]", "bad_message"),
    (json.dumps({"text": "no type"}), "missing_field"),
    (json.dumps({"type": "launch.rocket"}), "unknown_type"),
    (json.dumps({"type": "chat.text"}), "missing_field"),
    (json.dumps({"type": "chat.text", "text": 42}), "invalid_field"),
    (json.dumps({"type": "chat.text", "text": "   "}), "empty_text"),
    (json.dumps({"type": "chat.text", "text": "x" * 2001}), "too_large"),
    (json.dumps({"type": "rtc.answer", "sdp": "hello"}), "bad_sdp"),
    (json.dumps({"type": "rtc.answer", "sdp": "v=0\r\nm=" + "a" * 30000}), "too_large"),
    (json.dumps({"type": "rtc.ice", "candidate": "nonsense", "sdpMid": "0"}), "bad_ice"),
    (json.dumps({"type": "rtc.ice", "candidate": CANDIDATE, "sdpMLineIndex": "zero"}), "bad_ice"),
    (json.dumps({"type": "avatar.event", "event": "stream/exploded"}), "invalid_field"),
    (json.dumps({"type": "session.end", "reason": "bored"}), "invalid_field"),
    ("x" * (65 * 1024), "too_large"),
    ("[" * 30_000 + "]" * 30_000, "too_deep"),
    ('{"a":' * 10_000 + "1" + "}" * 10_000, "too_deep"),
    ('{"type": "chat.text", "text": "hello \\ud800"}', "invalid_text"),
    ('{"type": "chat.text", "text": "nul \\u0000"}', "invalid_text"),
    ('{"type": "ping", "t": NaN}', "bad_number"),
    ('{"type": "ping", "t": ' + "9" * 5000 + "}", "bad_number"),
]


async def test_each_bad_frame_gets_a_specific_error_and_the_session_lives_on(
    vendors, fake_did, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    for frame, code in BAD_FRAMES:
        await session.ws.send_to(text_data=frame)
        reply = await session.expect("error")
        assert reply["code"] == code, frame[:60]
        assert reply["message"] and "Traceback" not in reply["message"]
    for audio, code in ((b"\x01\x02\x03", "bad_audio"), (b"\x00" * (64 * 1024 + 2), "too_large")):
        await session.ws.send_to(bytes_data=audio)
        assert (await session.expect("error"))["code"] == code
    await session.send(type="ping", t=7)
    assert (await session.expect("pong"))["t"] == 7
    assert (await refreshed(conversation)).status == "live"
    assert not fake_did.calls("POST", "/sdp")  # nothing bad reached the provider
    await session.close()


async def test_another_user_cannot_open_someone_elses_conversation(
    vendors, fake_did, open_session, conversation, bob
):
    session = await open_session(conversation, bob, expect_offer=False)
    assert not session.connected and session.code == 4404
    assert fake_did.requests == []
    assert (await refreshed(conversation)).status == "connecting"


async def test_anonymous_users_are_refused(vendors, fake_did, open_session, conversation):
    from django.contrib.auth.models import AnonymousUser

    session = await open_session(conversation, AnonymousUser(), expect_offer=False)
    assert not session.connected and session.code == 4401
    assert fake_did.requests == []


async def test_the_websocket_checks_the_origin(conversation, alice):
    from channels.testing import WebsocketCommunicator

    from config.asgi import application

    communicator = WebsocketCommunicator(
        application, f"/ws/sessions/{conversation.pk}/",
        headers=[(b"origin", b"https://evil.example"), (b"host", b"127.0.0.1")],
    )
    connected, _ = await communicator.connect()
    assert not connected


async def test_session_limit_refuses_one_live_session_too_many(
    settings, vendors, fake_did, open_session, conversation, alice, avatar
):
    settings.MAX_LIVE_SESSIONS_PER_USER = 2
    for _ in range(2):
        await Conversation.objects.acreate(user=alice, avatar=avatar, status="live")
    session = await open_session(conversation, alice, expect_offer=False)
    error = await session.expect("error")
    assert error["code"] == "session_limit"
    assert fake_did.requests == []
    assert (await refreshed(conversation)).status == "failed"


@pytest.mark.parametrize(
    ("failure", "code"),
    [({"fail_create_with": 500}, "avatar_unavailable"),
     ({"fail_create_with": 429}, "avatar_rate_limited"),
     ({"fail_create_with": 401}, "avatar_auth"),
     ({"create_times_out": True}, "avatar_unavailable")],
)
async def test_provider_failures_give_a_clear_error_and_end_the_session(
    vendors, fake_did, open_session, conversation, alice, failure, code
):
    for name, value in failure.items():
        setattr(fake_did, name, value)
    session = await open_session(conversation, alice, expect_offer=False)
    error = await session.expect("error", within=40)
    assert error["code"] == code and error["message"]
    assert "did-test-key" not in error["message"]
    ended = await session.expect("session.ended")
    assert ended["reason"] == "provider_error"
    conversation = await refreshed(conversation)
    assert conversation.status == "failed" and conversation.end_reason == "provider_error"
    assert not fake_did.calls("DELETE")  # no stream was opened, so none to close


async def test_a_speak_failure_mid_reply_is_reported_and_the_stream_closed_at_the_end(
    vendors, fake_did, celery_worker, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    original = fake_did.handler

    async def failing_talks(request):
        import httpx

        if request.method == "POST" and request.url.path.count("/") == 3 and b"script" in request.content:
            fake_did.requests.append((request.method, request.url.path, json.loads(request.content)))
            return httpx.Response(500, json={"kind": "InternalServerError"})
        return await original(request)

    fake_did.handler = failing_talks
    await session.send(type="chat.text", text="Hello?")
    error = await session.expect("error", within=30)
    assert error["code"] == "avatar_unavailable"
    await session.expect("reply.done")
    await session.send(type="session.end")
    ended = await session.expect("session.ended")
    assert ended["reason"] == "user"
    assert len(fake_did.calls("DELETE")) == 1


async def test_a_dropped_socket_that_does_not_return_ends_and_closes_the_stream_exactly_once(
    settings, vendors, fake_did, celery_worker, open_session, conversation, alice
):
    settings.DISCONNECT_GRACE_SECONDS = 1
    session = await open_session(conversation, alice)
    await session.close()
    assert (await refreshed(conversation)).status == "live"  # a reconnect may still come
    await wait_for(lambda: fake_did.calls("DELETE"), within=15)
    conversation = await refreshed(conversation)
    assert conversation.status == "ended" and conversation.end_reason == "disconnect"
    [delete] = fake_did.calls("DELETE")
    assert delete == {"session_id": conversation.provider_session_id}

    from streaming.tasks import reap_idle_sessions

    await Conversation.objects.filter(pk=conversation.pk).aupdate(
        last_activity=conversation.last_activity.replace(year=2000)
    )
    assert await sync_to_async(reap_idle_sessions)() == 0
    await asyncio.sleep(0.5)
    assert len(fake_did.calls("DELETE")) == 1


async def test_without_a_grace_period_a_disconnect_closes_the_stream_at_once(
    settings, vendors, fake_did, open_session, conversation, alice
):
    settings.DISCONNECT_GRACE_SECONDS = 0
    session = await open_session(conversation, alice)
    await session.close()
    assert len(fake_did.calls("DELETE")) == 1
    assert (await refreshed(conversation)).end_reason == "disconnect"


async def test_a_reconnect_within_the_grace_period_resumes_with_a_new_stream(
    settings, vendors, fake_did, celery_worker, open_session, conversation, alice
):
    settings.DISCONNECT_GRACE_SECONDS = 2
    first = await open_session(conversation, alice)
    first_stream = (await refreshed(conversation)).provider_stream_id
    await first.close()
    second = await open_session(conversation, alice)  # the page reconnects
    conversation = await refreshed(conversation)
    assert conversation.status == "live" and conversation.provider_stream_id != first_stream
    # The old stream was closed once, by the new socket; the grace task then found the
    # conversation attached again and left it alone.
    await asyncio.sleep(3.5)
    assert [p for m, p in fake_did.paths() if m == "DELETE"] == [f"/talks/streams/{first_stream}"]
    assert (await refreshed(conversation)).status == "live"
    await second.send(type="session.end")
    await second.expect("session.ended")
    assert len(fake_did.calls("DELETE")) == 2


async def test_session_end_records_the_reason_and_closes_once(
    vendors, fake_did, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    await session.send(type="session.end")
    assert (await session.expect("session.ended"))["reason"] == "user"
    await session.close()
    conversation = await refreshed(conversation)
    assert conversation.end_reason == "user" and conversation.ended_at
    assert len(fake_did.calls("DELETE")) == 1


async def test_a_closed_page_ends_at_once_as_a_disconnect(
    vendors, fake_did, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    await session.send(type="session.end", reason="page_closed")
    assert (await session.expect("session.ended"))["reason"] == "disconnect"
    assert (await refreshed(conversation)).end_reason == "disconnect"
    assert len(fake_did.calls("DELETE")) == 1


async def test_an_ended_conversation_cannot_be_reopened(vendors, fake_did, open_session, conversation, alice):
    await sync_to_async(conversation.end)("user")
    session = await open_session(conversation, alice, expect_offer=False)
    ended = await session.expect("session.ended")
    assert ended["reason"] == "user"
    assert fake_did.requests == []


async def test_barge_in_between_two_sentences_of_a_written_reply_still_cuts_it_short(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    script = [results("hold on", is_final=False, speech_final=False)]
    async with FakeDeepgram(script, every=3200) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        session = await open_session(conversation, alice)
        await session.send(type="chat.text", text="Tell me about the moon.")
        started = await session.expect("reply.started")
        done = await session.expect("reply.done")  # the LLM has written it all ...
        assert not done["interrupted"] and done["sentences"] >= 2
        # ... and the avatar has said the first sentence only: silent, but not finished.
        await session.send(type="avatar.event", event="stream/started")
        await session.send(type="avatar.event", event="stream/done")
        await session.ws.send_to(bytes_data=b"\x00\x01" * 1600)
        await session.ws.send_to(bytes_data=b"\x00\x01" * 1600)
        cut = await session.expect("reply.interrupted")
        assert cut == {"type": "reply.interrupted", "message_id": started["message_id"]}
        # reply.done has one writer, the task: the consumer never sends a second one.
        assert [m["type"] for m in session.seen].count("reply.done") == 1
        assert (await Message.objects.aget(pk=started["message_id"])).interrupted
        assert fake_did.calls("POST", "/interrupt")
        await session.close()


async def test_a_late_reply_done_of_an_older_reply_does_not_hide_the_running_one(
    vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    await session.send(type="chat.text", text="First question?")
    first = await session.expect("transcript.final")
    await session.expect("reply.done")
    # A reply.done of the first reply arriving again (a retried publish, another worker) while
    # the second reply runs must not make the consumer forget the second one.
    fake_groq.delay_per_chunk = 0.2
    await session.send(type="chat.text", text="Second question?")
    second = await session.expect("transcript.final")
    await session.expect("reply.started")
    from streaming import events

    await events.publish(events.group_name(conversation.pk), "reply.done", message_id=-1,
                         reply_to=first["message_id"], interrupted=False)
    await session.expect("reply.done")  # the stale one, relayed
    await session.send(type="avatar.interrupt")
    done = await session.expect("reply.done")
    assert done["reply_to"] == second["message_id"] and done["interrupted"] is True
    await session.close()


LOUD = (b"\x00\x10" * 1600)  # 100 ms of PCM16 at 4096: voice-loud
QUIET = b"\x00\x00" * 1600  # 100 ms of silence


async def test_voice_onset_over_the_avatar_stops_it_before_any_words(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    fake_groq.delay_per_chunk = 0.25
    async with FakeDeepgram([speech_started(0.0)], every=3200) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        session = await open_session(conversation, alice)
        await session.send(type="chat.text", text="Tell me a long story.")
        await session.expect("reply.started")
        await session.send(type="avatar.event", event="stream/started")
        assert (await session.expect("avatar.state"))["state"] == "speaking"
        await session.ws.send_to(bytes_data=LOUD)
        await session.ws.send_to(bytes_data=LOUD)
        await session.ws.send_to(bytes_data=LOUD)
        assert (await session.expect("avatar.state"))["state"] == "idle"
        assert (await session.expect("reply.done"))["interrupted"] is True
        assert fake_did.calls("POST", "/interrupt")
        assert not [m for m in session.seen if m["type"] == "transcript.interim"]
        await session.close()


async def test_a_short_noise_over_the_avatar_does_not_stop_it(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    async with FakeDeepgram([speech_started(0.0)], every=3200) as deepgram:
        settings.DEEPGRAM_URL = deepgram.url
        session = await open_session(conversation, alice)
        await session.send(type="avatar.event", event="stream/started")
        assert (await session.expect("avatar.state"))["state"] == "speaking"
        await session.ws.send_to(bytes_data=LOUD)  # 100 ms: a knock, a cough
        for _ in range(4):
            await session.ws.send_to(bytes_data=QUIET)
        await session.send(type="ping", t=3)
        await session.expect("pong")
        states = [m["state"] for m in session.seen if m["type"] == "avatar.state"]
        assert states == ["speaking"]
        assert not fake_did.calls("POST", "/interrupt")
        await session.close()
