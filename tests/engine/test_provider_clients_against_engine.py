"""Conformance: the project's own provider clients (the ones that talk to D-ID, Deepgram and Groq
in the cloud) work unchanged against the local engine."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from streaming.providers.avatar.did import DIDProvider
from streaming.providers.llm.groq import GroqChat
from streaming.providers.stt.deepgram import DeepgramLiveSession

from .running_engine import RunningEngine
from .test_deepgram_listen import pcm16, silence, speak, word_error_rate
from .test_did_streams import KEY, SIDE, EngineConfig, LocalAvatars, Viewer, build_app, wait_for

pytestmark = [pytest.mark.engine, pytest.mark.timeout(240)]

SENTENCE = "Please tell me how far away the moon is from the earth."


@pytest.fixture(scope="module")
def running_engine(tmp_path_factory):
    """The whole engine (D-ID streams, Deepgram, Groq) on a free loopback port."""
    import cv2

    from engine.presenters import presenter_image

    media = tmp_path_factory.mktemp("media")
    (media / "faces").mkdir()
    face = cv2.cvtColor(presenter_image("local-astronaut"), cv2.COLOR_RGB2BGR)
    (media / "faces" / "astronaut.jpg").write_bytes(cv2.imencode(".jpg", face)[1].tobytes())
    config = EngineConfig(api_key=KEY, media_root=media, default_resolution=SIDE)
    app = build_app(config, avatars=LocalAvatars(config),
                    optional_modules=("deepgram_listen", "groq_chat"))
    with RunningEngine(app) as engine:
        yield engine


class PhotoAvatar:
    """What DIDProvider.open reads from an Avatar, without a database."""

    provider = "did_talks"
    driver_url = ""
    stream_warmup = False
    compatibility_mode = "on"
    output_resolution = SIDE
    fluent = False
    pad_audio = 0.0
    stitch = True
    session_timeout = 300
    presenter_id = driver_id = agent_id = ""

    def public_source_url(self) -> str:
        return "/media/faces/astronaut.jpg"


async def test_our_d_id_client_streams_speaks_interrupts_and_closes_on_the_engine(running_engine):
    base_url = f"http://127.0.0.1:{running_engine.port}"
    async with DIDProvider(base_url, KEY, "talks", interrupt_extension=True) as provider:
        stream = await provider.open(PhotoAvatar())
        assert stream.offer["type"] == "offer" and "m=video" in stream.offer["sdp"]

        viewer = Viewer(own_channel=True)
        await viewer.pc.setRemoteDescription(_description(stream.offer))
        await viewer.pc.setLocalDescription(await viewer.pc.createAnswer())
        lines = viewer.pc.localDescription.sdp.splitlines()
        trickled = ("a=candidate:", "a=end-of-candidates")  # a trickling browser sends neither
        bare = "\r\n".join(line for line in lines if not line.startswith(trickled)) + "\r\n"
        await provider.answer(stream, bare)
        for line in lines:
            if line.startswith("a=candidate:"):
                await provider.add_ice(stream, line[2:], "0", 0)
        await provider.add_ice(stream, None, None, None)
        await wait_for(lambda: viewer.pc.connectionState == "connected", 20)

        await provider.speak(stream, "Hello, I am speaking through our own client.")
        started = await viewer.event("stream/started", within=20)
        assert started
        await viewer.event("stream/done", within=30)
        await wait_for(lambda: viewer.video_sizes and viewer.loud_audio_frames > 10, 10)
        assert viewer.video_sizes[-1] == (SIDE, SIDE)

        await provider.speak(stream, "This is a much longer sentence that will be cut short by "
                                     "the user talking over the avatar in the middle of it.")
        await viewer.event("stream/started", within=20)
        cut_at = time.monotonic()
        await provider.interrupt(stream)
        done = await viewer.event("stream/done", within=10)
        assert done.get("interrupted") is True
        assert time.monotonic() - cut_at < 2.0

        await provider.close(stream)
        await wait_for(lambda: viewer.pc.connectionState in ("closed", "failed"), 15)
        await viewer.close()
        await provider.close(stream)  # a second close of a gone stream is harmless


async def test_our_deepgram_client_transcribes_piper_speech_on_the_engine(running_engine):
    from scipy.signal import resample_poly

    samples, rate = speak(SENTENCE)
    audio = pcm16(np.concatenate([silence(0.3), resample_poly(samples, 320, 441), silence(1.5)]))
    session = DeepgramLiveSession(f"ws://127.0.0.1:{running_engine.port}", KEY,
                                  endpointing_ms=300, utterance_end_ms=1000)
    events = []

    async def listen():
        async for event in session:
            events.append(event)
            if event.kind == "final" and event.speech_final:
                return

    async with session:
        listener = asyncio.create_task(listen())
        for offset in range(0, len(audio), 1280):  # 40 ms frames, in real time
            await session.send(audio[offset:offset + 1280])
            await asyncio.sleep(0.04)
        await asyncio.wait_for(listener, 30)

    kinds = [event.kind for event in events]
    assert "interim" in kinds
    assert kinds[0] == "speech_started"  # the engine's SpeechStarted, for barge-in
    final = " ".join(e.text for e in events if e.kind == "final" and e.is_final)
    assert word_error_rate(SENTENCE, final) <= 0.15, final


async def test_our_groq_client_streams_a_reply_from_the_engine(running_engine):
    async with GroqChat(f"http://127.0.0.1:{running_engine.port}", KEY,
                        "llama-3.1-8b-instant") as llm:
        deltas = [delta async for delta in llm.stream(
            [{"role": "system", "content": "You are a helpful assistant. Answer briefly."},
             {"role": "user", "content": "Say hello."}], max_tokens=40)]
    assert len(deltas) > 1 and "".join(deltas).strip()


def _description(offer: dict):
    from aiortc import RTCSessionDescription

    return RTCSessionDescription(sdp=offer["sdp"], type=offer["type"])
