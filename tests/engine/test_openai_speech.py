"""OpenAI's `POST /audio/speech` on the engine: Piper's voice as raw PCM16 mono at 24 kHz.

What LiveAvatar's LITE mode speaks with (LIVEAVATAR_TTS_URL defaults to the engine). The shape
follows https://platform.openai.com/docs/api-reference/audio/createSpeech, and `pcm` is "raw
samples in 24kHz (16-bit signed, low-endian), without the header"
(https://platform.openai.com/docs/guides/text-to-speech).
"""

from __future__ import annotations

import numpy as np
import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine import openai_speech
from engine.config import EngineConfig
from engine.server import LocalAvatars, build_app
from streaming.providers.errors import ProviderError
from streaming.providers.http import RetryPolicy
from streaming.providers.tts.openai_speech import OpenAISpeech

pytestmark = [pytest.mark.engine, pytest.mark.timeout(180)]

KEY = "speech-test-key"
BEARER = {"Authorization": f"Bearer {KEY}"}
TEXT = "Hello there. The local engine is speaking for the avatar now."


class ToneSpeaker:
    """A stand-in for Piper with a known answer: one second of 440 Hz at 22,050 Hz a sentence."""

    sample_rate = 22_050

    def chunks(self, text: str, *, sample_rate: int | None = None):
        from engine.utterance import utterance_from_audio

        t = np.arange(self.sample_rate) / self.sample_rate
        for sentence in filter(str.strip, text.split(".")):
            tone = utterance_from_audio(0.5 * np.sin(2 * np.pi * 440 * t), self.sample_rate,
                                        text=sentence)
            yield tone.resampled(sample_rate or self.sample_rate)


@pytest.fixture
async def client(speaker):
    config = EngineConfig(api_key=KEY, loopback_ice=False)
    app = build_app(config, avatars=LocalAvatars(config, speaker=speaker), optional_modules=())
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


def body(**overrides) -> dict:
    return {"model": "tts-1", "input": TEXT, "voice": "alloy", "response_format": "pcm",
            **overrides}


def voiced_fraction(samples: np.ndarray, rate: int) -> float:
    """Share of the energy between 80 Hz and 4 kHz: where a voice's is, not a hum's or a hiss's."""
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64))) ** 2
    freqs = np.fft.rfftfreq(len(samples), 1 / rate)
    return float(spectrum[(freqs >= 80) & (freqs <= 4000)].sum() / spectrum.sum())


async def test_each_sentence_is_resampled_to_24_khz_little_endian_pcm16():
    config = EngineConfig(api_key=KEY, loopback_ice=False)
    app = build_app(config, avatars=LocalAvatars(config, speaker=ToneSpeaker()),
                    optional_modules=())
    async with TestClient(TestServer(app, host="127.0.0.1")) as tone_client:
        response = await tone_client.post(
            "/openai/v1/audio/speech", json=body(input="One. Two."), headers=BEARER
        )
        assert response.status == 200
        pcm = await response.read()
    samples = np.frombuffer(pcm, "<i2")
    assert len(samples) == 2 * 24_000  # two one-second sentences, counted at 24 kHz
    spectrum = np.abs(np.fft.rfft(samples[:24_000].astype(np.float64)))
    assert np.fft.rfftfreq(24_000, 1 / 24_000)[spectrum.argmax()] == pytest.approx(440, abs=2)
    assert 0.45 * 32767 < np.abs(samples).max() < 0.55 * 32767


async def test_speech_is_pcm16_at_24_khz_with_the_voice_in_it(client, speaker):
    response = await client.post("/openai/v1/audio/speech", json=body(), headers=BEARER)
    assert response.status == 200
    assert response.headers["Content-Type"] == "audio/pcm"
    pcm = await response.read()
    assert len(pcm) % 2 == 0
    samples = np.frombuffer(pcm, "<i2")
    seconds = len(samples) / 24_000
    # Piper's own 22,050 Hz rendering of the same text lasts as long (its phoneme durations
    # are sampled, so not to the sample).
    piper = speaker.synthesize(TEXT)
    assert piper.sample_rate == 22_050
    assert seconds == pytest.approx(piper.duration, rel=0.15)
    assert 2.0 < seconds < 8.0  # about a dozen words
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean((samples / 32768.0) ** 2)) + 1e-12)
    assert rms_dbfs > -35, "the audio is (nearly) silent"
    assert voiced_fraction(samples, 24_000) > 0.8


async def test_any_openai_voice_name_speaks_with_the_engines_voice(client):
    alloy = await client.post("/openai/v1/audio/speech", json=body(input="Yes."), headers=BEARER)
    own = await client.post(
        "/openai/v1/audio/speech", json=body(input="Yes.", voice=openai_speech.DEFAULT_VOICE),
        headers=BEARER,
    )
    odd = await client.post(
        "/openai/v1/audio/speech", json=body(input="Yes.", voice="no-such-voice"), headers=BEARER
    )
    assert alloy.status == own.status == odd.status == 200
    lengths = [len(await r.read()) / 2 / 24_000 for r in (alloy, own, odd)]
    assert all(0.2 < seconds < 1.5 for seconds in lengths)  # "Yes." in one voice, three times


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"input": ""}, "input"),
        ({"input": None}, "input"),
        ({"input": "x" * 4097}, "input"),
        ({"model": None}, "model"),
        ({"voice": 7}, "voice"),
        ({"response_format": "mp3"}, "response_format"),
        ({"response_format": None}, "response_format"),
        ({"speed": 9}, "speed"),
        ({"stream_format": "sse"}, "stream_format"),
    ],
)
async def test_a_body_it_cannot_serve_is_a_400_in_openais_shape(client, change, param):
    payload = {k: v for k, v in body(**change).items() if v is not None}
    response = await client.post("/openai/v1/audio/speech", json=payload, headers=BEARER)
    assert response.status == 400
    error = (await response.json())["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert error["message"]


async def test_a_wrong_key_is_a_401_in_openais_shape(client):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        response = await client.post("/openai/v1/audio/speech", json=body(), headers=headers)
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "invalid_api_key"
    broken = await client.post("/openai/v1/audio/speech", data=b"{", headers=BEARER)
    assert broken.status == 400
    assert (await broken.json())["error"]["code"] == "invalid_json"


async def test_our_liveavatar_lite_speech_client_gets_audio_from_the_engine(client):
    url = str(client.make_url("/openai/v1"))
    speech = OpenAISpeech(url, KEY, "tts-1", "alloy", retry=RetryPolicy(attempts=1))
    try:
        pcm = await speech("Hello from the product's own speech client.")
    finally:
        await speech.aclose()
    samples = np.frombuffer(pcm, "<i2")
    assert 1.0 < len(samples) / 24_000 < 6.0
    assert np.abs(samples).max() > 3000  # speech, not silence

    wrong = OpenAISpeech(url, "wrong", "tts-1", "alloy", retry=RetryPolicy(attempts=1))
    try:
        with pytest.raises(ProviderError):
            await wrong("Hello.")
    finally:
        await wrong.aclose()
