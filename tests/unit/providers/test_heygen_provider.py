"""HeyGen Streaming Avatar (v2, LiveKit): what goes over the wire, and what the caller sees."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from avatars.models import Avatar, Voice
from streaming.providers.avatar.base import Stream
from streaming.providers.avatar.heygen import HeyGenProvider, quality_for
from streaming.providers.errors import ProviderRejected, ProviderUnavailable

from .vendor_wire import HEYGEN_KEY, answer, assert_sent, load

BASE = "https://api.heygen.com"
HEYGEN = load("heygen_streaming.json")
EX = HEYGEN["exchanges"]


def make_avatar(**overrides) -> Avatar:
    avatar = Avatar(name="Wayne", slug="wayne", **{**HEYGEN["avatar"], **overrides})
    avatar.voice = Voice(name="HeyGen voice", **HEYGEN["voice"])
    return avatar


def script(wire, *names):
    for name in names or EX:
        request = EX[name]["request"]
        wire.on(request["method"], request["path"], answer(EX[name]))


def heygen(wire, retry) -> HeyGenProvider:
    return HeyGenProvider(BASE, HEYGEN_KEY, wire.client(), retry=retry)


async def test_a_session_is_created_started_spoken_to_interrupted_kept_alive_and_stopped(
    wire, retry
):
    script(wire)
    async with heygen(wire, retry) as provider:
        stream = await provider.open(make_avatar())
        task = await provider.speak(stream, "Hello there, I am happy to help.")
        await provider.interrupt(stream)
        await provider.keep_alive(stream)
        await provider.close(stream)
    order = ["new", "start", "task", "interrupt", "keep_alive", "stop"]
    sent = wire.sent()
    assert len(sent) == len(order)
    for request, name in zip(sent, order, strict=True):
        assert_sent(request, EX[name]["request"], HEYGEN_KEY)
        assert "authorization" not in request["headers"]
    assert task == {"task_id": "task-3f1c", "duration_ms": 2150.0}


async def test_the_browser_gets_a_livekit_room_not_an_sdp_offer(wire, retry):
    script(wire, "new", "start")
    data = EX["new"]["response"]["json"]["data"]
    async with heygen(wire, retry) as provider:
        stream = await provider.open(make_avatar())
    assert provider.transport == "livekit"
    assert stream.offer is None and stream.ice_servers == []
    assert stream.id == stream.session_id == data["session_id"]
    assert stream.extra == {"url": data["url"], "access_token": data["access_token"]}
    assert Stream.from_dict(json.loads(json.dumps(stream.to_dict()))) == stream


async def test_webrtc_signalling_calls_are_no_ops_for_livekit(wire, retry):
    script(wire, "new", "start")
    async with heygen(wire, retry) as provider:
        stream = await provider.open(make_avatar())
        await provider.answer(stream, "v=0\r\n")
        await provider.add_ice(stream, "candidate:1 1 udp 1 127.0.0.1 9 typ host", "0", 0)
        await provider.add_ice(stream, None)
    assert [r["path"] for r in wire.sent()] == ["/v1/streaming.new", "/v1/streaming.start"]


@pytest.mark.parametrize(
    ("resolution", "quality"),
    [(None, "medium"), (1080, "high"), (720, "high"), (480, "medium"), (360, "low")],
)
def test_quality_follows_the_avatar_output_resolution(resolution, quality):
    assert quality_for(resolution) == quality


async def test_non_heygen_voices_and_auto_codec_are_left_to_heygen(wire, retry):
    script(wire, "new", "start")
    avatar = make_avatar(compatibility_mode="auto", session_timeout=10)
    avatar.voice = Voice(name="Jenny", provider="microsoft", voice_id="en-US-JennyNeural")
    async with heygen(wire, retry) as provider:
        await provider.open(avatar)
    body = wire.sent()[0]["json"]
    assert "voice" not in body and "video_encoding" not in body
    assert body["activity_idle_timeout"] == 30  # HeyGen's minimum


async def test_a_session_that_fails_to_start_is_stopped_so_it_does_not_hold_a_slot(wire, retry):
    script(wire, "new", "stop")
    wire.reply("POST", "/v1/streaming.start", 400, HEYGEN["errors"]["session_closed"]["json"])
    async with heygen(wire, retry) as provider:
        with pytest.raises(ProviderRejected) as caught:
            await provider.open(make_avatar())
    assert [r["path"] for r in wire.sent()] == [
        "/v1/streaming.new",
        "/v1/streaming.start",
        "/v1/streaming.stop",
    ]
    assert caught.value.status == 400
    assert "session state wrong: closed" in caught.value.vendor_message


async def test_a_failure_reported_inside_a_200_envelope_is_still_a_rejection(wire, retry):
    error = HEYGEN["errors"]["concurrency_in_200"]
    wire.reply("POST", "/v1/streaming.new", error["status"], error["json"])
    async with heygen(wire, retry) as provider:
        with pytest.raises(ProviderRejected) as caught:
            await provider.open(make_avatar())
    assert "Concurrent limit reached" in caught.value.vendor_message


async def test_tasks_over_1000_characters_are_refused_before_sending(wire, retry):
    script(wire, "new", "start")
    async with heygen(wire, retry) as provider:
        stream = await provider.open(make_avatar())
        with pytest.raises(ValueError, match="limit of 1000"):
            await provider.speak(stream, "x" * 1001)
    assert len(wire.sent()) == 2


async def test_a_bad_key_is_a_rejection_that_never_shows_the_key(wire, retry, caplog):
    body = {"code": 400112, "message": f"Unauthorized: {HEYGEN_KEY}"}
    wire.reply("POST", "/v1/streaming.new", 401, body)
    caplog.set_level(logging.DEBUG)
    async with heygen(wire, retry) as provider:
        with pytest.raises(ProviderRejected) as caught:
            await provider.open(make_avatar())
    exc = caught.value
    assert (exc.status, exc.code) == (401, "avatar_auth")
    for text in (str(exc), repr(exc), exc.message, caplog.text):
        assert HEYGEN_KEY not in text


async def test_a_stop_for_a_session_heygen_forgot_counts_as_closed(wire, retry):
    wire.reply("POST", "/v1/streaming.stop", 404, {"code": 404, "message": "session not found"})
    async with heygen(wire, retry) as provider:
        await provider.close(Stream("s", "s", None, [], "heygen"))


async def test_heygen_down_is_unavailable_after_retries(wire, retry, sleeper):
    wire.on("POST", "/v1/streaming.task", httpx.ConnectError)
    async with heygen(wire, retry) as provider:
        with pytest.raises(ProviderUnavailable):
            await provider.speak(Stream("s", "s", None, [], "heygen"), "Hi.")
    assert len(wire.requests) == 3 and len(sleeper.waits) == 2
