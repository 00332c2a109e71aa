"""A LiveAvatar conversation through the real consumer, Redis channel layer and Celery worker.

LiveAvatar's HTTP API and the speech service answer through MockTransport with the documented
shapes (tests/unit/providers/fixtures/liveavatar.json cites the pages); LITE mode's command socket
is a real WebSocket server. What is checked is what the page sees: a LiveKit room and nothing
secret, then the avatar's commands (FULL) or talking events (LITE).
"""

from __future__ import annotations

import json

import httpx
import pytest
from asgiref.sync import sync_to_async

from avatars.models import Avatar, Voice
from conversations.models import Conversation, Message
from streaming.sentences import split_sentences
from tests.unit.providers.liveavatar_socket import FakeLiteSocket
from tests.unit.providers.vendor_wire import load

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

KEY = "liveavatar-integration-key-0123456789"
LA = load("liveavatar.json")
EX = LA["exchanges"]
PCM = b"\x00\x10" * 24_000  # 1 s of speech per sentence


class FakeLiveAvatar:
    """LiveAvatar's session endpoints, answering from the documented fixture; records calls."""

    def __init__(self, mode: str, ws_url: str = "") -> None:
        self.mode = mode.lower()
        self.ws_url = ws_url
        self.calls: list[tuple[str, dict | None, dict]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        name = request.url.path.rsplit("/", 1)[-1]
        self.calls.append((name, body, dict(request.headers)))
        exchange = {"token": f"token_{self.mode}", "start": f"start_{self.mode}",
                    "stop": "stop", "keep-alive": "keep_alive"}[name]
        response = json.loads(json.dumps(EX[exchange]["response"]).replace("{ws_url}", self.ws_url))
        return httpx.Response(response["status"], json=response["json"])


@pytest.fixture
def liveavatar_settings(settings, fake_groq):
    settings.LIVEAVATAR_API_URL = "https://api.liveavatar.test"
    settings.LIVEAVATAR_API_KEY = KEY
    settings.LIVEAVATAR_TTS_URL = "https://tts.test/v1"
    settings.LIVEAVATAR_TTS_API_KEY = "tts-key"
    settings.GROQ_BASE_URL = "https://api.groq.test"
    settings.GROQ_API_KEY = "groq-test-key"
    settings.PROVIDER_TIMEOUT = 2.0
    return settings


def route(fake_liveavatar, fake_groq, tts_requests):
    from streaming.providers.registry import use_transport

    async def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.groq.test":
            return await fake_groq.handler(request)
        if request.url.host == "tts.test":
            tts_requests.append(json.loads(request.content))
            return httpx.Response(200, content=PCM, headers={"content-type": "audio/pcm"})
        return fake_liveavatar.handler(request)

    return use_transport(httpx.MockTransport(handler))


@pytest.fixture
def la_conversation(alice, persona):
    voice = Voice.objects.create(name="LiveAvatar voice", **LA["voice"])
    avatar = Avatar.objects.create(name="Dana", slug="dana", persona=persona, voice=voice,
                                   **LA["avatar"])
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


def events_seen(session) -> list[str]:
    return [m["event"] for m in session.seen if m["type"] == "avatar.provider_event"]


async def drain(session) -> None:
    """Read what has arrived (into `seen`); receive_nothing waits without ending the app, which
    a timed-out receive would do."""
    while not await session.ws.receive_nothing(timeout=0.05):
        await session.receive()


async def joined(session) -> dict:
    created = await session.expect("session.created")
    assert created["transport"] == "livekit"
    join = await session.expect("livekit.join")
    for message in session.seen:  # nothing the page saw holds a key or the session token
        text = json.dumps(message)
        assert KEY not in text and "liveavatar-session-token" not in text
    return join


async def test_full_mode_the_page_joins_the_room_and_publishes_each_sentence(
    liveavatar_settings, fake_groq, celery_worker, open_session, la_conversation, alice
):
    liveavatar_settings.LIVEAVATAR_MODE = "FULL"
    fake = FakeLiveAvatar("FULL")
    with route(fake, fake_groq, []):
        session = await open_session(la_conversation, alice, expect_offer=False)
        join = await joined(session)
        room = EX["start_full"]["response"]["json"]["data"]
        assert join == {"type": "livekit.join", "url": room["livekit_url"],
                        "token": room["livekit_client_token"]}

        await session.send(type="chat.text", text="How far is the moon?")
        await session.expect("reply.done")
        commands = [m for m in session.seen if m["type"] == "livekit.data"]
        assert {m["topic"] for m in commands} == {"agent-control"}
        assert [m["data"]["event_type"] for m in commands] == ["avatar.speak_text"] * len(commands)
        assert [m["data"]["text"] for m in commands] == split_sentences("".join(fake_groq.deltas))
        assert {m["data"]["session_id"] for m in commands} == {room["session_id"]}

        await session.send(type="session.end", reason="user")
        await session.expect("session.ended")
        await wait_for(lambda: any(name == "stop" for name, _, _ in fake.calls))
    token_call, start_call = fake.calls[0], fake.calls[1]
    assert token_call[2]["x-api-key"] == KEY and token_call[1]["mode"] == "FULL"
    assert start_call[2]["authorization"].startswith("Bearer ")
    stop = [body for name, body, _ in fake.calls if name == "stop"]
    assert stop == [{"session_id": room["session_id"], "reason": "USER_CLOSED"}]


async def test_lite_mode_speaks_our_audio_on_the_socket_and_tells_the_page_it_talks(
    liveavatar_settings, fake_groq, celery_worker, open_session, la_conversation, alice
):
    liveavatar_settings.LIVEAVATAR_MODE = "LITE"
    tts_requests: list[dict] = []
    async with FakeLiteSocket() as socket:
        fake = FakeLiveAvatar("LITE", socket.url)
        with route(fake, fake_groq, tts_requests):
            session = await open_session(la_conversation, alice, expect_offer=False)
            await joined(session)
            await session.send(type="chat.text", text="How far is the moon?")
            await session.expect("reply.done")
            sentences = split_sentences("".join(fake_groq.deltas))
            await wait_for(lambda: len(socket.utterances()) == len(sentences))
            # LITE's talking events come back to the page, which reports them like any avatar's.
            async def all_talks_reported():
                await drain(session)
                return len(events_seen(session)) == 2 * len(sentences)

            await wait_for(all_talks_reported, within=5)
            assert events_seen(session)[:2] == ["stream/started", "stream/done"]
            await session.send(type="avatar.event", event="stream/started")
            assert (await session.expect("avatar.state"))["state"] == "speaking"
            await session.send(type="session.end", reason="user")
            await session.expect("session.ended")
    assert socket.early == []
    assert socket.utterances() == [PCM] * len(sentences)
    assert [r["input"] for r in tts_requests] == sentences
    assert {r["response_format"] for r in tts_requests} == {"pcm"}
    assert not [m for m in session.seen if m["type"] == "livekit.data"]  # nothing to relay
    await sync_to_async(la_conversation.refresh_from_db)()
    assert la_conversation.provider_state["extra"]["mode"] == "LITE"


async def quiet(session) -> None:
    """Let the consumer handle what was sent before: a ping is answered after it."""
    await session.send(type="ping", t=1)
    await session.expect("pong")


async def test_full_mode_with_a_context_asks_liveavatars_llm_and_saves_the_words_it_said(
    liveavatar_settings, fake_groq, celery_worker, open_session, la_conversation, alice
):
    liveavatar_settings.LIVEAVATAR_MODE = "FULL"
    liveavatar_settings.LIVEAVATAR_CONTEXT_ID = LA["context_id"]
    events = LA["full_events"]
    said = events["avatar_transcription"]["text"]
    room = EX["start_full"]["response"]["json"]["data"]
    fake = FakeLiveAvatar("FULL")
    with route(fake, fake_groq, []):
        session = await open_session(la_conversation, alice, expect_offer=False)
        await joined(session)
        await session.send(type="chat.text", text=events["speak_response"]["text"])
        started = await session.expect("reply.started")
        done = await session.expect("reply.done")
        assert done["sentences"] == 1 and not done["interrupted"]
        asks = [m["data"] for m in session.seen if m["type"] == "livekit.data"
                and m["data"]["event_type"] == "avatar.speak_response"]
        assert [(a["session_id"], a["text"]) for a in asks] == [
            (room["session_id"], events["speak_response"]["text"])
        ]
        assert fake_groq.requests == []  # LiveAvatar's LLM answers, not ours

        # The room's `avatar.transcription`, relayed by the page (only it is in the room).
        await session.send(type="avatar.event", event="avatar.transcription", text=said)
        delta = await session.expect("reply.delta")
        assert delta == {"type": "reply.delta", "message_id": started["message_id"], "text": said}
        # A repeat, or another page relaying the same event: the reply keeps the first words.
        await session.send(type="avatar.event", event="avatar.transcription", text="Again.")
        await quiet(session)
        assert [m for m in session.seen if m["type"] == "reply.delta"] == [delta]
        await session.send(type="session.end", reason="user")
        await session.expect("session.ended")
    assert fake.calls[0][1]["avatar_persona"]["context_id"] == LA["context_id"]
    reply = await Message.objects.select_related("reply_to").aget(pk=started["message_id"])
    assert reply.role == "assistant" and reply.text == said and not reply.error
    assert reply.reply_to.text == events["speak_response"]["text"]
    assert reply.reply_to.role == "user"
    assert reply.task_started_at <= reply.first_sentence_sent_at <= reply.first_token_at
    assert reply.completed_at is not None


async def test_full_mode_without_a_context_says_our_llms_reply_and_ignores_the_rooms_transcript(
    liveavatar_settings, fake_groq, celery_worker, open_session, la_conversation, alice
):
    liveavatar_settings.LIVEAVATAR_MODE = "FULL"
    liveavatar_settings.LIVEAVATAR_CONTEXT_ID = ""
    fake = FakeLiveAvatar("FULL")
    with route(fake, fake_groq, []):
        session = await open_session(la_conversation, alice, expect_offer=False)
        await joined(session)
        await session.send(type="chat.text", text="How far is the moon?")
        done = await session.expect("reply.done")
        commands = {m["data"]["event_type"] for m in session.seen if m["type"] == "livekit.data"}
        assert commands == {"avatar.speak_text"}
        # LiveAvatar transcribes what it says for us too: our own words stay the reply's.
        await session.send(type="avatar.event", event="avatar.transcription", text="Other words.")
        await quiet(session)
        await session.send(type="session.end", reason="user")
        await session.expect("session.ended")
    assert len(fake_groq.requests) == 1
    assert not [m for m in session.seen if m["type"] == "reply.delta" and m["text"] == "Other words."]
    reply = await Message.objects.aget(pk=done["message_id"])
    assert reply.text == "".join(fake_groq.deltas).strip()
