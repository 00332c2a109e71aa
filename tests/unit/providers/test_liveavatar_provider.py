"""LiveAvatar (FULL and LITE modes): what goes over the wire, and what the caller sees.

HTTP runs on httpx.MockTransport; LITE mode's command socket is a real WebSocket server on
loopback that answers as LiveAvatar's docs say (fixtures/liveavatar.json cites each page).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest
from websockets.asyncio.server import serve

from avatars.models import Avatar, Voice
from streaming.providers.avatar.base import Stream
from streaming.providers.avatar.liveavatar import LiveAvatarProvider, video_settings_for
from streaming.providers.avatar.liveavatar_lite import (
    CHUNK_BYTES,
    FIRST_CHUNK_BYTES,
    speak_events,
)
from streaming.providers.errors import ProviderError, ProviderRejected

from .liveavatar_socket import FakeLiteSocket
from .vendor_wire import answer, assert_sent, load

LIVEAVATAR_KEY = "liveavatar-test-key-0123456789abcdef"
BASE = "https://api.liveavatar.com"
LA = load("liveavatar.json")
EX = LA["exchanges"]
FULL_ID = EX["token_full"]["response"]["json"]["data"]["session_id"]
LITE_ID = EX["token_lite"]["response"]["json"]["data"]["session_id"]


def make_avatar(**overrides) -> Avatar:
    avatar = Avatar(name="Dana", slug="dana", **{**LA["avatar"], **overrides})
    avatar.voice = Voice(name="LiveAvatar voice", **LA["voice"])
    return avatar


class Relayed:
    """Stands in for the registry's relay to the page: records what would be sent."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str, dict]] = []

    async def __call__(self, stream: Stream, kind: str, fields: dict) -> None:
        self.messages.append((stream.id, kind, fields))


def script(wire, *names, ws_url="ws://127.0.0.1:9/unused"):
    for name in names:
        exchange = EX[name]
        response = json.loads(json.dumps(exchange["response"]).replace("{ws_url}", ws_url))
        request = exchange["request"]
        wire.on(request["method"], request["path"], answer({"response": response}))


def full(wire, retry, relay=None) -> LiveAvatarProvider:
    return LiveAvatarProvider(
        BASE, LIVEAVATAR_KEY, wire.client(), mode="FULL", context_id=LA["context_id"],
        relay=relay, retry=retry,
    )


# FULL mode ------------------------------------------------------------------------------------


async def test_full_session_opens_with_two_calls_and_only_the_room_reaches_the_browser(wire, retry):
    script(wire, "token_full", "start_full")
    async with full(wire, retry) as provider:
        stream = await provider.open(make_avatar())
    token, start = wire.sent()
    assert_sent(token, EX["token_full"]["request"], LIVEAVATAR_KEY)
    assert_sent(start, EX["start_full"]["request"], LIVEAVATAR_KEY)
    assert "x-api-key" not in start["headers"]  # the session token, not the key, starts it
    room = EX["start_full"]["response"]["json"]["data"]
    assert stream.id == stream.session_id == FULL_ID
    assert stream.offer is None and stream.ice_servers == []
    assert stream.extra == {
        "url": room["livekit_url"], "access_token": room["livekit_client_token"], "mode": "FULL"
    }
    stored = json.dumps(stream.to_dict())
    assert LIVEAVATAR_KEY not in stored
    assert EX["token_full"]["response"]["json"]["data"]["session_token"] not in stored
    assert Stream.from_dict(json.loads(stored)) == stream


async def test_full_mode_commands_are_relayed_to_the_page_as_documented_events(wire, retry):
    relay = Relayed()
    stream = Stream(FULL_ID, FULL_ID, None, [], "liveavatar", {"mode": "FULL"})
    events = LA["full_events"]
    async with full(wire, retry, relay) as provider:
        await provider.speak(stream, events["speak_text"]["text"])
        await provider.speak_response(stream, events["speak_response"]["text"])
        await provider.interrupt(stream)
    assert wire.sent() == []  # no HTTP: the room is the only way in
    sent = []
    for stream_id, kind, fields in relay.messages:
        assert (stream_id, kind, fields["topic"]) == (FULL_ID, "livekit.data", events["topic"])
        event = dict(fields["data"])
        assert isinstance(event.pop("event_id"), str)
        sent.append(event)
    assert sent == [events["speak_text"], events["speak_response"], events["interrupt"]]


async def test_full_mode_keep_alive_and_stop_use_the_api_key_and_the_session_id(wire, retry):
    script(wire, "keep_alive", "stop")
    stream = Stream(FULL_ID, FULL_ID, None, [], "liveavatar", {"mode": "FULL"})
    async with full(wire, retry) as provider:
        await provider.keep_alive(stream)
        await provider.close(stream)
    keep_alive, stop = wire.sent()
    assert_sent(keep_alive, EX["keep_alive"]["request"], LIVEAVATAR_KEY)
    assert_sent(stop, EX["stop"]["request"], LIVEAVATAR_KEY)


async def test_full_mode_without_a_page_relay_says_it_is_not_configured(wire, retry):
    stream = Stream(FULL_ID, FULL_ID, None, [], "liveavatar", {"mode": "FULL"})
    async with full(wire, retry) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.speak(stream, "Hi.")
    assert caught.value.code == "avatar_not_configured"


def test_full_token_leaves_out_a_voice_of_another_provider_and_an_unset_context():
    avatar = make_avatar(compatibility_mode="off", output_resolution=1080)
    avatar.language = "de-DE"
    avatar.voice = Voice(name="Jenny", provider="microsoft", voice_id="en-US-JennyNeural",
                         language="de-DE")
    body = LiveAvatarProvider(BASE, LIVEAVATAR_KEY, mode="FULL").token_body(avatar)
    assert body["avatar_persona"] == {"language": "de"}
    assert body["video_settings"] == {"quality": "very_high", "encoding": "H264"}


@pytest.mark.parametrize(
    ("resolution", "quality"), [(None, "high"), (1080, "very_high"), (720, "high"), (480, "medium"),
                                (360, "low")],
)
def test_video_quality_follows_the_output_resolution(resolution, quality):
    assert video_settings_for(make_avatar(output_resolution=resolution))["quality"] == quality


# Opening failures -------------------------------------------------------------------------------


async def test_a_session_that_fails_to_start_is_stopped_so_it_holds_nothing(wire, retry):
    script(wire, "token_full", "stop")
    wire.reply("POST", "/v1/sessions/start", 422, LA["errors"]["validation"]["json"])
    async with full(wire, retry) as provider:
        with pytest.raises(ProviderRejected) as caught:
            await provider.open(make_avatar())
    assert [r["path"] for r in wire.sent()] == [
        "/v1/sessions/token", "/v1/sessions/start", "/v1/sessions/stop"
    ]
    assert wire.sent()[2]["json"] == {"session_id": FULL_ID, "reason": "USER_CLOSED"}
    assert caught.value.code == "avatar_rejected"


async def test_a_lite_start_without_a_command_socket_is_a_bad_response(wire, retry):
    script(wire, "token_lite", "stop")
    no_socket = json.loads(json.dumps(EX["start_lite"]["response"]))
    no_socket["json"]["data"]["ws_url"] = None
    wire.on("POST", "/v1/sessions/start", answer({"response": no_socket}))
    async with LiveAvatarProvider(BASE, LIVEAVATAR_KEY, wire.client(), retry=retry) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.open(make_avatar())
    assert caught.value.code == "avatar_error"
    assert wire.sent()[-1]["path"] == "/v1/sessions/stop"


async def test_a_failure_reported_inside_a_200_envelope_is_a_rejection(wire, retry):
    wire.reply("POST", "/v1/sessions/token", 200, {"code": 400, "data": None,
                                                   "message": "avatar not found"})
    async with full(wire, retry) as provider:
        with pytest.raises(ProviderRejected) as caught:
            await provider.open(make_avatar())
    assert "avatar not found" in caught.value.vendor_message


async def test_a_bad_key_is_a_rejection_that_never_shows_the_key(wire, retry, caplog):
    wire.reply("POST", "/v1/sessions/token", 401, {"detail": f"Invalid API key {LIVEAVATAR_KEY}"})
    caplog.set_level(logging.DEBUG)
    async with full(wire, retry) as provider:
        with pytest.raises(ProviderRejected) as caught:
            await provider.open(make_avatar())
    exc = caught.value
    assert (exc.status, exc.code) == (401, "avatar_auth")
    for text in (str(exc), repr(exc), exc.message, caplog.text):
        assert LIVEAVATAR_KEY not in text


async def test_a_stop_for_a_session_liveavatar_forgot_counts_as_closed(wire, retry):
    wire.reply("POST", "/v1/sessions/stop", 404, {"detail": "Session not found"})
    async with full(wire, retry) as provider:
        await provider.close(Stream(FULL_ID, FULL_ID, None, [], "liveavatar", {"mode": "FULL"}))


def test_only_full_mode_with_a_context_writes_its_own_replies():
    context = LA["context_id"]
    assert LiveAvatarProvider(BASE, LIVEAVATAR_KEY, mode="FULL", context_id=context).writes_replies
    assert not LiveAvatarProvider(BASE, LIVEAVATAR_KEY, mode="FULL").writes_replies
    assert not LiveAvatarProvider(BASE, LIVEAVATAR_KEY, mode="LITE", context_id=context).writes_replies


def test_an_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="FULL or LITE"):
        LiveAvatarProvider(BASE, LIVEAVATAR_KEY, mode="CUSTOM")


# LITE mode: the command socket ------------------------------------------------------------------


PCM = bytes(range(256)) * 468 + b"\x01\x02\x03"  # 119,811 bytes: ~2.5 s and an odd tail byte


async def fake_speech(text: str, voice_id: str | None) -> bytes:
    return PCM


async def test_lite_session_hands_the_browser_the_room_and_keeps_the_socket_server_side(wire, retry):
    async with FakeLiteSocket() as socket:
        script(wire, "token_lite", "start_lite", ws_url=socket.url)
        async with LiveAvatarProvider(BASE, LIVEAVATAR_KEY, wire.client(), retry=retry) as provider:
            stream = await provider.open(make_avatar())
    token, start = wire.sent()
    assert_sent(token, EX["token_lite"]["request"], LIVEAVATAR_KEY)
    assert_sent(start, EX["start_lite"]["request"], LIVEAVATAR_KEY)
    room = EX["start_lite"]["response"]["json"]["data"]
    assert stream.id == LITE_ID
    assert stream.extra == {"url": room["livekit_url"], "access_token": room["livekit_client_token"],
                            "mode": "LITE", "ws_url": socket.url}
    assert socket.connections == 0  # nothing is opened before there is something to say


async def test_lite_speech_goes_over_the_socket_as_24khz_chunks_after_connected(retry, wire):
    relay = Relayed()
    async with FakeLiteSocket() as socket:
        stream = Stream(LITE_ID, LITE_ID, None, [], "liveavatar",
                        {"mode": "LITE", "ws_url": socket.url})
        async with LiveAvatarProvider(BASE, LIVEAVATAR_KEY, wire.client(), speech=fake_speech,
                                      relay=relay, retry=retry) as provider:
            answer_ = await provider.speak(stream, "Hello there.")
            await provider.interrupt(stream)
            await provider.keep_alive(stream)
            for _ in range(100):
                if len(relay.messages) == 2:
                    break
                await asyncio.sleep(0.01)
    assert socket.early == []  # nothing was sent before the session said `connected`
    assert socket.connections == 1  # one socket for everything
    speaks = [f for f in socket.frames if f["type"] == "agent.speak"]
    assert [len(base64.b64decode(f["audio"])) for f in speaks] == [
        FIRST_CHUNK_BYTES, CHUNK_BYTES, len(PCM) - 1 - FIRST_CHUNK_BYTES - CHUNK_BYTES
    ]
    assert b"".join(base64.b64decode(f["audio"]) for f in speaks) == PCM[:-1]
    event_id = answer_["event_id"]
    assert {f["event_id"] for f in speaks} == {event_id}
    assert [f["type"] for f in socket.frames[len(speaks):]] == [
        "agent.speak_end", "agent.interrupt", "session.keep_alive"
    ]
    assert socket.frames[len(speaks)] == {"type": "agent.speak_end", "event_id": event_id}
    assert socket.frames[-1]["event_id"]
    assert wire.sent() == []  # keep-alive went over the socket in LITE mode
    # The avatar's talking, heard on the socket, goes to the page in D-ID's words.
    assert relay.messages == [
        (LITE_ID, "avatar.provider_event", {"event": "stream/started"}),
        (LITE_ID, "avatar.provider_event", {"event": "stream/done"}),
    ]


async def test_lite_reopens_a_dropped_socket_once(retry, wire):
    async with FakeLiteSocket() as socket:
        stream = Stream(LITE_ID, LITE_ID, None, [], "liveavatar",
                        {"mode": "LITE", "ws_url": socket.url})
        async with LiveAvatarProvider(BASE, LIVEAVATAR_KEY, wire.client(), speech=fake_speech,
                                      retry=retry) as provider:
            await provider.interrupt(stream)
            channel = provider._channels[LITE_ID]
            await channel._ws.close()  # the vendor dropped us
            await asyncio.sleep(0.05)
            await provider.interrupt(stream)
    assert socket.connections == 2
    assert [f["type"] for f in socket.frames] == ["agent.interrupt", "agent.interrupt"]


async def test_lite_session_already_closed_on_the_socket_is_not_found(retry, wire):
    async def closed(ws):
        await ws.send(json.dumps(LA["lite_events"]["state_closed"]))
        await asyncio.sleep(1)

    async with serve(closed, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        stream = Stream(LITE_ID, LITE_ID, None, [], "liveavatar",
                        {"mode": "LITE", "ws_url": f"ws://127.0.0.1:{port}/"})
        async with LiveAvatarProvider(BASE, LIVEAVATAR_KEY, wire.client(), retry=retry) as provider:
            with pytest.raises(ProviderError) as caught:
                await provider.interrupt(stream)
    assert caught.value.code == "avatar_not_found"


async def test_lite_socket_that_cannot_be_reached_is_unavailable(retry, wire):
    stream = Stream(LITE_ID, LITE_ID, None, [], "liveavatar",
                    {"mode": "LITE", "ws_url": "ws://127.0.0.1:9/"})
    async with LiveAvatarProvider(BASE, LIVEAVATAR_KEY, wire.client(), retry=retry,
                                  timeout=2.0) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.interrupt(stream)
    assert caught.value.code == "avatar_unavailable"


async def test_lite_close_stops_the_session_and_the_socket(retry, wire):
    async with FakeLiteSocket() as socket:
        stream = Stream(LITE_ID, LITE_ID, None, [], "liveavatar",
                        {"mode": "LITE", "ws_url": socket.url})
        wire.reply("POST", "/v1/sessions/stop", 200, {"code": 100, "data": None, "message": "ok"})
        async with LiveAvatarProvider(BASE, LIVEAVATAR_KEY, wire.client(), retry=retry) as provider:
            await provider.interrupt(stream)
            channel = provider._channels[LITE_ID]
            await provider.close(stream)
            assert LITE_ID not in provider._channels and channel._ws is None
    assert wire.sent()[0]["json"] == {"session_id": LITE_ID, "reason": "USER_CLOSED"}


async def test_lite_without_a_speech_service_says_it_is_not_configured(retry, wire):
    stream = Stream(LITE_ID, LITE_ID, None, [], "liveavatar", {"mode": "LITE", "ws_url": "ws://x/"})
    async with LiveAvatarProvider(BASE, LIVEAVATAR_KEY, wire.client(), retry=retry) as provider:
        with pytest.raises(ProviderError) as caught:
            await provider.speak(stream, "Hello.")
    assert caught.value.code == "avatar_not_configured"


def test_speak_events_chunk_600ms_then_1s_and_end_the_utterance():
    pcm = b"\x00\x01" * (24_000 * 3)  # 3 s
    events = speak_events(pcm, "e1")
    sizes = [len(base64.b64decode(e["audio"])) for e in events[:-1]]
    assert sizes == [28_800, 48_000, 48_000, 19_200]
    assert all(len(json.dumps(e)) < 1_000_000 for e in events)  # under the 1 MB packet cap
    assert events[-1] == {"type": "agent.speak_end", "event_id": "e1"}
    assert speak_events(b"", "e2") == [{"type": "agent.speak_end", "event_id": "e2"}]
