"""Deepgram live transcription through the SDK, against a small local server speaking
Deepgram's wire format: the URL, auth and parameters it opens, the audio and control messages
it sends, and the events the caller gets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from dataclasses import asdict
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.asyncio.server import serve

from streaming.providers.errors import ProviderRejected, ProviderUnavailable
from streaming.providers.stt.deepgram import (
    DeepgramLiveSession,
    environment_for,
    transcript_event,
)

from .vendor_wire import DEEPGRAM_KEY, load

LIVE = load("deepgram_live.json")
PCM_20MS = b"\x10\x00" * 320  # 20 ms of 16 kHz mono PCM16


class FakeDeepgram:
    """Accepts one /v1/listen socket, records what arrives, and answers with scripted messages
    once the first audio arrives."""

    def __init__(self, script=(), reject_status: int | None = None, drop_after_audio: bool = False):
        self.script = list(script)
        self.reject_status = reject_status
        self.drop_after_audio = drop_after_audio
        self.path = ""
        self.headers: dict[str, str] = {}
        self.audio = bytearray()
        self.controls: list[str] = []
        self.url = ""

    def process_request(self, connection, request):
        self.path = request.path
        self.headers = {k.lower(): v for k, v in request.headers.raw_items()}
        if self.reject_status:
            return connection.respond(self.reject_status, "Unauthorized\n")
        return None

    async def handler(self, ws):
        answered = False
        async for frame in ws:
            if isinstance(frame, bytes):
                self.audio += frame
                if self.drop_after_audio:
                    await ws.close(1011, "internal error")
                    return
                if not answered:
                    answered = True
                    for message in self.script:
                        await ws.send(json.dumps(message))
            else:
                kind = json.loads(frame)["type"]
                self.controls.append(kind)
                if kind == "CloseStream":
                    await ws.close()
                    return

    @contextlib.asynccontextmanager
    async def running(self):
        async with serve(
            self.handler, "127.0.0.1", 0, process_request=self.process_request
        ) as server:
            port = server.sockets[0].getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}"
            yield self


def session_for(server: FakeDeepgram, retry, **options) -> DeepgramLiveSession:
    options.setdefault("keepalive_interval", 30.0)
    return DeepgramLiveSession(server.url, DEEPGRAM_KEY, retry=retry, **options)


async def collect_until_utterance_end(session: DeepgramLiveSession) -> list:
    events = []
    async with asyncio.timeout(5):
        async for event in session:
            events.append(event)
            if event.kind == "utterance_end":
                break
    return events


async def test_the_session_opens_listen_with_token_auth_and_the_documented_parameters(retry):
    server = FakeDeepgram(LIVE["messages"])
    async with server.running():
        async with session_for(server, retry) as session:
            await session.send(PCM_20MS)
            await collect_until_utterance_end(session)
    url = urlsplit(server.path)
    assert url.path == "/v1/listen"
    assert {k: v[0] for k, v in parse_qs(url.query).items()} == LIVE["query"]
    assert server.headers["authorization"] == f"Token {DEEPGRAM_KEY}"


async def test_a_working_session_logs_nothing_that_carries_the_key(retry, caplog):
    caplog.set_level(logging.DEBUG)  # websockets logs its handshake headers at DEBUG
    server = FakeDeepgram(LIVE["messages"])
    async with server.running(), session_for(server, retry) as session:
        await session.send(PCM_20MS)
        await collect_until_utterance_end(session)
    assert caplog.records
    assert DEEPGRAM_KEY not in caplog.text


async def test_audio_goes_out_as_binary_frames_and_transcripts_come_back_as_events(retry):
    server = FakeDeepgram(LIVE["messages"])
    async with server.running(), session_for(server, retry) as session:
        for _ in range(5):
            await session.send(PCM_20MS)
        events = await collect_until_utterance_end(session)
        await asyncio.sleep(0.05)
    assert bytes(server.audio) == PCM_20MS * 5
    assert [asdict(e) for e in events] == LIVE["expected_events"]


async def test_keepalives_go_out_only_while_no_audio_is_flowing(retry):
    server = FakeDeepgram()
    async with server.running():
        session = session_for(server, retry, keepalive_interval=0.2)
        await session.start()
        for _ in range(12):  # 0.6 s of steady audio: no keepalive needed
            await session.send(PCM_20MS)
            await asyncio.sleep(0.05)
        assert server.controls == []
        await asyncio.sleep(0.7)  # silence: keepalives keep the socket open
        await session.close()
    assert server.controls.count("KeepAlive") >= 2
    assert server.controls[-1] == "CloseStream"


async def test_close_sends_deepgrams_close_stream_once(retry):
    server = FakeDeepgram()
    async with server.running():
        session = session_for(server, retry)
        await session.start()
        await session.send(PCM_20MS)
        await session.close()
        await session.close()  # twice is fine
        await session.send(PCM_20MS)  # a late frame after close is dropped, not an error
    assert server.controls == ["CloseStream"]
    assert session.closed


async def test_a_refused_key_is_a_rejection_that_never_shows_the_key(retry, sleeper, caplog):
    server = FakeDeepgram(reject_status=401)
    caplog.set_level(logging.DEBUG)
    async with server.running():
        session = session_for(server, retry)
        with pytest.raises(ProviderRejected) as caught:
            await session.start()
    exc = caught.value
    assert (exc.status, exc.code) == (401, "stt_auth")
    assert sleeper.waits == []  # a bad key is not retried
    for text in (str(exc), repr(exc), exc.message, exc.vendor_message, caplog.text):
        assert DEEPGRAM_KEY not in text


async def test_nothing_listening_is_unavailable_after_retries(retry, sleeper):
    with socket.socket() as probe:  # a port that was free a moment ago
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = DeepgramLiveSession(f"ws://127.0.0.1:{port}", DEEPGRAM_KEY, retry=retry)
    with pytest.raises(ProviderUnavailable) as caught:
        await session.start()
    assert len(sleeper.waits) == 2  # three attempts
    assert caught.value.retryable


async def test_an_error_message_from_deepgram_ends_the_iteration_with_unavailable(retry):
    server = FakeDeepgram([LIVE["messages"][1], LIVE["error_message"]])
    async with server.running(), session_for(server, retry) as session:
        await session.send(PCM_20MS)
        events = []
        with pytest.raises(ProviderUnavailable) as caught:
            async with asyncio.timeout(5):
                async for event in session:
                    events.append(event)
    assert [e.text for e in events] == ["hello how"]
    assert "cannot be decoded" in caught.value.vendor_message


async def test_a_dropped_connection_is_unavailable_not_a_silent_end(retry):
    server = FakeDeepgram(drop_after_audio=True)
    async with server.running(), session_for(server, retry) as session:
        await session.send(PCM_20MS)
        with pytest.raises(ProviderUnavailable):
            async with asyncio.timeout(5):
                async for _ in session:
                    pass


async def test_sending_before_start_is_a_programming_error():
    session = DeepgramLiveSession("ws://127.0.0.1:9", DEEPGRAM_KEY)
    with pytest.raises(RuntimeError):
        await session.send(PCM_20MS)


@pytest.mark.parametrize(
    ("url", "live", "rest"),
    [
        ("ws://127.0.0.1:8700", "ws://127.0.0.1:8700", "http://127.0.0.1:8700"),
        ("wss://api.deepgram.com/", "wss://api.deepgram.com", "https://api.deepgram.com"),
        ("http://127.0.0.1:8700", "ws://127.0.0.1:8700", "http://127.0.0.1:8700"),
    ],
)
def test_the_configured_url_becomes_the_sdks_live_endpoint(url, live, rest):
    environment = environment_for(url)
    assert (environment.production, environment.base) == (live, rest)


def _results(transcript: str, *, is_final: bool, speech_final: bool, start: float, duration: float):
    # The Results shape of https://developers.deepgram.com/reference/speech-to-text/listen-streaming
    return {
        "type": "Results",
        "channel_index": [0, 1],
        "duration": duration,
        "start": start,
        "is_final": is_final,
        "speech_final": speech_final,
        "channel": {"alternatives": [{"transcript": transcript, "confidence": 0.9, "words": []}]},
        "from_finalize": False,
    }


def test_a_speculative_final_then_an_empty_speech_final_both_reach_the_caller():
    """Deepgram may finalise words before the endpoint (`is_final` without `speech_final`) and
    then end the utterance with an empty `speech_final`; callers concatenate finals until then.
    https://developers.deepgram.com/docs/understand-endpointing-interim-results"""
    early = transcript_event(
        _results("How many legs?", is_final=True, speech_final=False, start=0.0, duration=1.2)
    )
    end = transcript_event(_results("", is_final=True, speech_final=True, start=1.2, duration=0.2))
    assert (early.kind, early.text, early.speech_final) == ("final", "How many legs?", False)
    assert (end.kind, end.text, end.speech_final, end.start) == ("final", "", True, 1.2)


def test_speech_started_is_surfaced_with_its_timestamp():
    event = transcript_event({"type": "SpeechStarted", "channel": [0, 1], "timestamp": 0.42})
    assert (event.kind, event.start) == ("speech_started", 0.42)


def test_the_session_asks_for_vad_events_and_the_250_ms_endpoint():
    options = DeepgramLiveSession("ws://127.0.0.1:9", DEEPGRAM_KEY).connect_options()
    assert (options["vad_events"], options["endpointing"]) == (True, 250)
