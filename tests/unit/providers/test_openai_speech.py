"""LITE mode's speech: OpenAI's documented `POST /v1/audio/speech` with `response_format: pcm`,
which answers raw 24 kHz 16-bit little-endian samples with no header
(https://platform.openai.com/docs/api-reference/audio/createSpeech,
https://platform.openai.com/docs/guides/text-to-speech#supported-output-formats)."""

from __future__ import annotations

import httpx
import pytest

from streaming.providers.errors import ProviderError, ProviderRejected
from streaming.providers.tts.openai_speech import OpenAISpeech

TTS_KEY = "sk-tts-test-key-ABCDEFGHIJKLMNOP"
PCM = b"\x10\x00\xf0\xff" * 12_000  # 0.5 s at 24 kHz


def speech(wire, retry) -> OpenAISpeech:
    return OpenAISpeech("https://api.openai.com/v1", TTS_KEY, "gpt-4o-mini-tts", "alloy",
                        wire.client(), retry=retry)


async def test_the_documented_request_gets_raw_pcm_back(wire, retry):
    wire.on("POST", "/v1/audio/speech",
            httpx.Response(200, content=PCM, headers={"content-type": "audio/pcm"}))
    pcm = await speech(wire, retry)("Hello there.", None)
    assert pcm == PCM
    (sent,) = wire.sent()
    assert sent["headers"]["authorization"] == f"Bearer {TTS_KEY}"
    assert sent["json"] == {"model": "gpt-4o-mini-tts", "input": "Hello there.", "voice": "alloy",
                            "response_format": "pcm"}


async def test_a_chosen_voice_replaces_the_default(wire, retry):
    wire.on("POST", "/v1/audio/speech", httpx.Response(200, content=PCM))
    await speech(wire, retry)("Hi.", "en_US-joe-medium")
    assert wire.sent()[0]["json"]["voice"] == "en_US-joe-medium"


async def test_an_answer_that_is_not_raw_samples_is_refused(wire, retry):
    wire.reply("POST", "/v1/audio/speech", 200, {"error": "no"})
    with pytest.raises(ProviderError) as caught:
        await speech(wire, retry)("Hi.", None)
    assert caught.value.code == "avatar_error"


async def test_a_rejection_never_shows_the_key(wire, retry):
    wire.reply("POST", "/v1/audio/speech", 401,
               {"error": {"message": f"Incorrect API key provided: {TTS_KEY}"}})
    with pytest.raises(ProviderRejected) as caught:
        await speech(wire, retry)("Hi.", None)
    assert TTS_KEY not in str(caught.value)
