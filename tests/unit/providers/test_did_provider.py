"""D-ID Talks, Clips and Agents streams: what goes over the wire, and what the caller sees."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import httpx
import pytest

from avatars.models import Avatar, Voice
from streaming.providers.avatar.did import DIDProvider
from streaming.providers.errors import (
    ProviderError,
    ProviderRateLimited,
    ProviderRejected,
    ProviderUnavailable,
)
from streaming.providers.http import RetryPolicy

from .vendor_wire import DID_KEY, answer, assert_sent, load

BASE = "https://api.d-id.com"
TALKS = load("did_talks_stream.json")
CLIPS = load("did_clips_stream.json")
AGENTS = load("did_agents_stream.json")
ERRORS = load("did_errors.json")["errors"]


def make_avatar(spec: dict, voice: dict | None = None) -> Avatar:
    avatar = Avatar(name="Test", slug="test", **spec)
    if voice:
        avatar.voice = Voice(name="Voice", **voice)
    return avatar


def provider(wire, retry, kind="talks", **kwargs) -> DIDProvider:
    return DIDProvider(BASE, DID_KEY, kind, wire.client(), retry=retry, **kwargs)


def script_talks(wire, stream_path="/talks/streams/strm_8eJtFW7bqHPVn6bJXzT2A"):
    ex = TALKS["exchanges"]
    wire.on("POST", "/talks/streams", answer(ex["create"]))
    wire.on("POST", stream_path + "/sdp", answer(ex["sdp"]))
    wire.on("POST", stream_path + "/ice", answer(ex["ice"]))
    wire.on("POST", stream_path, answer(ex["talk"]))
    wire.on("DELETE", stream_path, answer(ex["delete"]))


async def test_a_talks_stream_sends_exactly_the_documented_requests(wire, retry):
    script_talks(wire)
    ex = TALKS["exchanges"]
    avatar = make_avatar(TALKS["avatar"], TALKS["voice"])
    async with provider(wire, retry) as did:
        stream = await did.open(avatar)
        await did.answer(stream, ex["sdp"]["request"]["json"]["answer"]["sdp"])
        ice = ex["ice"]["request"]["json"]
        await did.add_ice(stream, ice["candidate"], ice["sdpMid"], ice["sdpMLineIndex"])
        await did.add_ice(stream, None)
        spoken = await did.speak(stream, "Hello! How can I help you today?", avatar.voice)
        await did.close(stream)

    sent = wire.sent()
    order = ["create", "sdp", "ice", "end_of_candidates", "talk", "delete"]
    assert len(sent) == len(order)
    for request, name in zip(sent, order, strict=True):
        assert_sent(request, ex[name]["request"], DID_KEY)
    assert spoken == ex["talk"]["response"]["json"]


async def test_the_stream_carries_the_offer_session_and_ice_servers_d_id_returned(wire, retry):
    script_talks(wire)
    created = TALKS["exchanges"]["create"]["response"]["json"]
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
    assert stream.id == created["id"]
    assert stream.session_id == created["session_id"]
    assert stream.offer == created["offer"]
    assert stream.ice_servers == created["ice_servers"]
    assert stream.provider == "did_talks"
    assert did.transport == "webrtc"


async def test_a_bare_sdp_string_offer_becomes_a_jsep_offer(wire, retry):
    wire.reply("POST", "/talks/streams", 201, {"id": "s1", "session_id": "x", "offer": "v=0\r\n"})
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
    assert stream.offer == {"type": "offer", "sdp": "v=0\r\n"}
    assert stream.ice_servers == []


async def test_a_stream_survives_the_trip_through_the_database_and_another_process(wire, retry):
    script_talks(wire)
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
    stored = json.loads(json.dumps(stream.to_dict()))  # what a JSONField hands back
    restored = type(stream).from_dict(stored)
    assert restored == stream

    # ...and a provider in "another process" can speak and close on the restored stream.
    wire.requests.clear()
    async with provider(wire, retry) as other:
        await other.speak(
            restored, "Hello! How can I help you today?", make_avatar({}, TALKS["voice"]).voice
        )
        await other.close(restored)
    assert_sent(wire.sent()[0], TALKS["exchanges"]["talk"]["request"], DID_KEY)
    assert_sent(wire.sent()[1], TALKS["exchanges"]["delete"]["request"], DID_KEY)


async def test_ice_forwards_only_candidate_sdp_mid_and_index_with_the_session(wire, retry):
    script_talks(wire)
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
        await did.add_ice(stream, "candidate:9 1 udp 1 127.0.0.1 9 typ host", None, 0)
        await did.add_ice(stream, "", "0", 0)  # a browser's empty end-of-candidates
    body, end = wire.sent()[1]["json"], wire.sent()[2]["json"]
    assert set(body) == {"candidate", "sdpMid", "sdpMLineIndex", "session_id"}
    assert body["sdpMid"] is None and body["sdpMLineIndex"] == 0
    assert end == {"session_id": stream.session_id}


async def test_without_a_voice_d_id_picks_its_default_tts(wire, retry):
    script_talks(wire)
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
        await did.speak(stream, "  Hi.  ")
    script = wire.sent()[1]["json"]["script"]
    assert script == {"type": "text", "input": "Hi.", "ssml": False}


async def test_a_clips_stream_is_created_from_the_presenter_with_the_clips_paths(wire, retry):
    ex = CLIPS["exchanges"]
    wire.on("POST", "/clips/streams", answer(ex["create"]))
    wire.on("POST", "/clips/streams/strm_clips_Qw3rTy", answer(ex["talk"]))
    wire.on("DELETE", "/clips/streams/strm_clips_Qw3rTy", answer(ex["delete"]))
    async with provider(wire, retry, "clips") as did:
        stream = await did.open(make_avatar(CLIPS["avatar"]))
        await did.speak(stream, "Nice to meet you.")
        await did.close(stream)
    for request, name in zip(wire.sent(), ["create", "talk", "delete"], strict=True):
        assert_sent(request, ex[name]["request"], DID_KEY)
    assert stream.provider == "did_clips"


async def test_an_agents_stream_follows_the_agents_paths_for_every_step(wire, retry):
    ex = AGENTS["exchanges"]
    base = "/agents/agt_Xy7Zq1Lm/streams"
    wire.on("POST", base, answer(ex["create"]))
    wire.on("POST", base + "/strm_agent_9f8e7d/sdp", answer(ex["sdp"]))
    wire.on("POST", base + "/strm_agent_9f8e7d/ice", answer(ex["ice"]))
    wire.on("POST", base + "/strm_agent_9f8e7d", answer(ex["speak"]))
    wire.on("DELETE", base + "/strm_agent_9f8e7d", answer(ex["delete"]))
    async with provider(wire, retry, "agents") as did:
        stream = await did.open(make_avatar(AGENTS["avatar"]))
        await did.answer(stream, "v=0\r\ns=-\r\n")
        ice = ex["ice"]["request"]["json"]
        await did.add_ice(stream, ice["candidate"], ice["sdpMid"], ice["sdpMLineIndex"])
        await did.add_ice(stream, None)
        await did.speak(stream, "This is an example text")
        await did.close(stream)
    order = ["create", "sdp", "ice", "end_of_candidates", "speak", "delete"]
    for request, name in zip(wire.sent(), order, strict=True):
        assert_sent(request, ex[name]["request"], DID_KEY)
    assert stream.provider == "did_agents"
    assert stream.extra["agent_id"] == "agt_Xy7Zq1Lm"


async def test_an_agent_chat_is_created_once_and_messages_carry_stream_and_session(wire, retry):
    ex = AGENTS["exchanges"]
    wire.on("POST", "/agents/agt_Xy7Zq1Lm/streams", answer(ex["create"]))
    wire.on("POST", "/agents/agt_Xy7Zq1Lm/chat", answer(ex["create_chat"]))
    wire.on(
        "POST", "/agents/agt_Xy7Zq1Lm/chat/cht_VAixOdSHqftRLgZVxmTK3", answer(ex["chat_message"])
    )
    async with provider(wire, retry, "agents") as did:
        stream = await did.open(make_avatar(AGENTS["avatar"]))
        first = await did.send_chat_message(stream, "Who was the first visitor of the Louvre?")
        await did.send_chat_message(stream, "Who was the first visitor of the Louvre?")
    sent = wire.sent()
    assert [r["path"] for r in sent].count("/agents/agt_Xy7Zq1Lm/chat") == 1
    assert stream.extra["chat_id"] == "cht_VAixOdSHqftRLgZVxmTK3"
    assert_sent(sent[1], ex["create_chat"]["request"], DID_KEY)
    message = sent[2]["json"]
    expected = ex["chat_message"]["request"]["json"]
    created_at = message["messages"][0].pop("created_at")
    expected["messages"][0].pop("created_at")
    assert message == expected
    assert re.fullmatch(r"\d\d/\d\d/\d{4}, \d\d:\d\d:\d\d", created_at)
    assert first == ex["chat_message"]["response"]["json"]


async def test_text_over_the_cap_is_refused_before_anything_is_sent(wire, retry):
    script_talks(wire)
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
        with pytest.raises(ValueError, match="limit of 2000"):
            await did.speak(stream, "word " * 500)
        with pytest.raises(ValueError, match="empty"):
            await did.speak(stream, "   ")
    assert len(wire.sent()) == 1  # only the create


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (400, ProviderRejected, "avatar_rejected"),
        (401, ProviderRejected, "avatar_auth"),
        (402, ProviderRejected, "avatar_quota"),
        (403, ProviderRejected, "avatar_auth"),
        (404, ProviderRejected, "avatar_not_found"),
    ],
)
async def test_a_rejection_is_reported_at_once_with_the_vendor_reason(
    wire, retry, sleeper, status, error, code
):
    wire.reply("POST", "/talks/streams", status, ERRORS[str(status)])
    async with provider(wire, retry) as did:
        with pytest.raises(error) as caught:
            await did.open(make_avatar(TALKS["avatar"]))
    assert len(wire.requests) == 1 and sleeper.waits == []  # 4xx is never retried
    exc = caught.value
    assert (exc.status, exc.code, exc.retryable) == (status, code, False)
    assert ERRORS[str(status)]["description"] in exc.vendor_message
    assert "D-ID" in exc.message


async def test_429_waits_as_long_as_retry_after_says_then_succeeds(wire, retry, sleeper):
    script_talks(wire)
    wire.on(
        "POST",
        "/talks/streams",
        httpx.Response(429, json=ERRORS["429"], headers={"Retry-After": "3"}),
        answer(TALKS["exchanges"]["create"]),
    )
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
    assert stream.id == "strm_8eJtFW7bqHPVn6bJXzT2A"
    assert len(wire.requests) == 2
    assert sleeper.waits == [3.0]  # Retry-After beats the 0.5 s backoff


async def test_429_that_does_not_clear_becomes_rate_limited(wire, retry, sleeper):
    wire.reply("POST", "/talks/streams", 429, ERRORS["429"], headers={"Retry-After": "1"})
    async with provider(wire, retry) as did:
        with pytest.raises(ProviderRateLimited) as caught:
            await did.open(make_avatar(TALKS["avatar"]))
    assert len(wire.requests) == 3
    assert caught.value.status == 429 and caught.value.retry_after == 1.0 and caught.value.retryable


async def test_a_retry_after_too_long_for_a_live_session_gives_up_at_once(wire, retry, sleeper):
    wire.reply("POST", "/talks/streams", 429, ERRORS["429"], headers={"Retry-After": "120"})
    async with provider(wire, retry) as did:
        with pytest.raises(ProviderRateLimited) as caught:
            await did.open(make_avatar(TALKS["avatar"]))
    assert len(wire.requests) == 1 and sleeper.waits == []
    assert caught.value.retry_after == 120.0


async def test_a_5xx_is_retried_with_growing_backoff_and_can_recover(wire, retry, sleeper):
    script_talks(wire)
    wire.on(
        "POST",
        "/talks/streams",
        httpx.Response(500, json=ERRORS["500"]),
        httpx.Response(503, text="upstream unavailable"),
        answer(TALKS["exchanges"]["create"]),
    )
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
    assert stream.session_id
    assert sleeper.waits == [0.5, 1.0]


async def test_a_5xx_that_persists_becomes_unavailable(wire, retry, sleeper):
    wire.reply("POST", "/talks/streams", 500, ERRORS["500"])
    async with provider(wire, retry) as did:
        with pytest.raises(ProviderUnavailable) as caught:
            await did.open(make_avatar(TALKS["avatar"]))
    assert len(wire.requests) == 3
    assert (caught.value.status, caught.value.code, caught.value.retryable) == (
        500,
        "avatar_unavailable",
        True,
    )


@pytest.mark.parametrize("failure", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.ConnectError])
async def test_network_failures_and_timeouts_are_retried_then_reported_unavailable(
    wire, retry, failure
):
    wire.on("POST", "/talks/streams", failure)
    async with provider(wire, retry) as did:
        with pytest.raises(ProviderUnavailable) as caught:
            await did.open(make_avatar(TALKS["avatar"]))
    assert len(wire.requests) == 3
    assert caught.value.status is None
    assert caught.value.vendor_message == failure.__name__


async def test_a_timeout_once_does_not_lose_the_talk(wire, retry):
    script_talks(wire)
    path = "/talks/streams/strm_8eJtFW7bqHPVn6bJXzT2A"
    wire.on("POST", path, httpx.ReadTimeout, answer(TALKS["exchanges"]["talk"]))
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
        result = await did.speak(stream, "Hello again.")
    assert result["status"] == "started"


async def test_a_server_that_never_answers_hits_our_explicit_timeout(sleeper):
    async def silent(reader, writer):
        await reader.read(65536)  # read the request, never answer
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    retry = RetryPolicy(attempts=2, base_delay=0.01, jitter=0.0, sleep=sleeper)
    try:
        async with DIDProvider(
            f"http://127.0.0.1:{port}", DID_KEY, "talks", timeout=0.2, retry=retry
        ) as did:
            assert did.client.timeout.read == 0.2
            started = time.perf_counter()
            with pytest.raises(ProviderUnavailable) as caught:
                await did.open(make_avatar(TALKS["avatar"]))
            elapsed = time.perf_counter() - started
    finally:
        server.close()
    assert caught.value.vendor_message == "ReadTimeout"
    assert 0.4 <= elapsed < 2.0  # two attempts of 0.2 s each
    assert len(sleeper.waits) == 1


async def test_closing_a_stream_d_id_already_dropped_counts_as_closed(wire, retry):
    script_talks(wire)
    wire.reply("DELETE", "/talks/streams/strm_8eJtFW7bqHPVn6bJXzT2A", 404, ERRORS["404"])
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
        await did.close(stream)  # no exception
    assert wire.sent()[-1]["method"] == "DELETE"


async def test_closing_while_d_id_is_down_raises_so_the_close_can_be_retried(wire, retry):
    script_talks(wire)
    wire.reply("DELETE", "/talks/streams/strm_8eJtFW7bqHPVn6bJXzT2A", 502, {})
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
        with pytest.raises(ProviderUnavailable):
            await did.close(stream)


async def test_interrupt_sends_nothing_to_d_id_which_has_no_interrupt_call(wire, retry):
    script_talks(wire)
    async with provider(wire, retry) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
        await did.interrupt(stream)
        await did.keep_alive(stream)
    assert [r["path"] for r in wire.sent()] == ["/talks/streams"]


async def test_the_local_engine_interrupt_extension_posts_the_session(wire, retry):
    script_talks(wire)
    path = "/talks/streams/strm_8eJtFW7bqHPVn6bJXzT2A/interrupt"
    wire.reply("POST", path, 200, {"status": "interrupted"})
    async with provider(wire, retry, interrupt_extension=True) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
        await did.interrupt(stream)
    sent = wire.sent()[-1]
    assert sent["path"] == path and sent["json"] == {"session_id": stream.session_id}
    assert sent["headers"]["authorization"] == f"Basic {DID_KEY}"


async def test_barge_in_on_a_server_without_the_extension_is_not_an_error(wire, retry):
    script_talks(wire)
    path = "/talks/streams/strm_8eJtFW7bqHPVn6bJXzT2A/interrupt"
    wire.reply("POST", path, 404, ERRORS["404"])
    async with provider(wire, retry, interrupt_extension=True) as did:
        stream = await did.open(make_avatar(TALKS["avatar"]))
        await did.interrupt(stream)
    assert wire.sent()[-1]["path"] == path


@pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 429, 500])
async def test_the_api_key_never_reaches_an_error_or_a_log_line(wire, retry, caplog, status):
    # Even a vendor that echoes the key back in its error body.
    body = {"kind": "AuthorizationError", "description": f"bad key {DID_KEY} for this account"}
    wire.reply("POST", "/talks/streams", status, body, headers={"Retry-After": "0"})
    caplog.set_level(logging.DEBUG)
    async with provider(wire, retry) as did:
        with pytest.raises(ProviderRejected if status < 500 else ProviderUnavailable) as caught:
            await did.open(make_avatar(TALKS["avatar"]))
    exc = caught.value
    for text in (str(exc), repr(exc), exc.message, exc.vendor_message, caplog.text):
        assert DID_KEY not in text
        assert "Basic" not in text
    assert "<redacted>" in exc.vendor_message
    assert caplog.records, "the failure is logged"


async def test_a_network_failure_message_never_carries_the_key(retry, caplog):
    def refuse(request):
        raise httpx.ConnectError(f"refused {request.headers['authorization']}", request=request)

    caplog.set_level(logging.DEBUG)
    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    async with DIDProvider(BASE, DID_KEY, "talks", client, retry=retry) as did:
        with pytest.raises(ProviderUnavailable) as caught:
            await did.open(make_avatar(TALKS["avatar"]))
    assert DID_KEY not in str(caught.value) and DID_KEY not in caplog.text
    assert not client.is_closed  # an injected client belongs to its owner
    await client.aclose()


def test_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        DIDProvider(BASE, DID_KEY, "videos")


async def test_an_agents_avatar_whose_agent_is_not_synced_yet_is_reported_not_crashed(wire, retry):
    async with provider(wire, retry, "agents") as did:
        with pytest.raises(ProviderError) as caught:
            await did.open(make_avatar({**AGENTS["avatar"], "agent_id": ""}))
    assert caught.value.code == "avatar_not_configured"
    assert wire.sent() == []
