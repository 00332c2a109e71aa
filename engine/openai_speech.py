"""OpenAI's speech API, served by the engine's Piper voice: what LiveAvatar's LITE mode speaks with.

`POST /openai/v1/audio/speech` (https://platform.openai.com/docs/api-reference/audio/createSpeech)
takes `{model, input, voice, response_format, speed, instructions}` with
`Authorization: Bearer <key>`. With `response_format: "pcm"` OpenAI answers "raw samples in 24kHz
(16-bit signed, low-endian), without the header" (https://platform.openai.com/docs/guides/text-to-speech);
so does this route: Piper's 22,050 Hz speech resampled to 24 kHz, sent sentence by sentence as it
is synthesised (chunked; a short opening clause first, first_clause.py), so the first words can
leave before the last are spoken.

Where it departs from OpenAI: any `model` is accepted and the one Piper voice answers; a `voice`
naming it (`catalog.VOICES`) or anything else (OpenAI's "alloy", "nova"...) speaks with it;
`response_format` must be "pcm" (no encoders here), `stream_format` "audio"; `speed` and
`instructions` are checked, not applied. `input` is capped at OpenAI's 4,096 characters and the
engine's ENGINE_MAX_TEXT_CHARS. Errors are OpenAI's shape, `{"error": {message, type, param,
code}}`: 401 for a wrong key, 400 for a body it cannot serve, 500 if synthesis fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .catalog import VOICES
from .config import EngineConfig

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000  # OpenAI's pcm format
MAX_INPUT_CHARS = 4096  # OpenAI's documented cap on `input`
DEFAULT_VOICE = VOICES[0][0]
FORMATS = ("pcm",)
MIN_SPEED, MAX_SPEED = 0.25, 4.0
CONTENT_TYPE = "audio/pcm"

SpeakerSource = Callable[[], Awaitable[Any]]  # -> a loaded tts.Speaker
SETTINGS = web.AppKey("openai_speech", object)


class InvalidSpeech(ValueError):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    text: str
    voice: str


@dataclass(frozen=True)
class _Settings:
    api_key: str
    max_chars: int
    speaker: SpeakerSource


def voice_for(name: str) -> str:
    """The engine's voice for an OpenAI voice name: its own id, else the default voice."""
    return name if name in {voice_id for voice_id, *_ in VOICES} else DEFAULT_VOICE


def parse_speech_request(body: object, *, max_chars: int = MAX_INPUT_CHARS) -> SpeechRequest:
    """Validate an OpenAI speech body; the first problem found is the error."""
    if not isinstance(body, dict):
        raise InvalidSpeech("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidSpeech("'model' is required and must be a string.", "model")
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise InvalidSpeech("'input' is required and must be a non-empty string.", "input")
    limit = min(max_chars, MAX_INPUT_CHARS)
    if len(text) > limit:
        raise InvalidSpeech(f"'input' is longer than {limit} characters.", "input")
    voice = body.get("voice")
    if isinstance(voice, dict):  # a custom voice: {"id": "voice_..."}
        voice = voice.get("id")
    if not isinstance(voice, str) or not voice.strip():
        raise InvalidSpeech("'voice' is required and must be a string.", "voice")
    response_format = body.get("response_format", "mp3")  # OpenAI's default
    if response_format not in FORMATS:
        raise InvalidSpeech(
            f"response_format {str(response_format)[:20]!r} is not served by the local engine: "
            "use 'pcm' (raw 16-bit 24 kHz mono).",
            "response_format",
        )
    if body.get("stream_format", "audio") != "audio":
        raise InvalidSpeech("stream_format must be 'audio' on the local engine.", "stream_format")
    speed = body.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not (
        MIN_SPEED <= speed <= MAX_SPEED
    ):
        raise InvalidSpeech(f"'speed' must be a number from {MIN_SPEED} to {MAX_SPEED}.", "speed")
    if not isinstance(body.get("instructions", ""), str):
        raise InvalidSpeech("'instructions' must be a string.", "instructions")
    return SpeechRequest(model=model, text=text, voice=voice_for(voice.strip()))


def _error(status: int, message: str, kind: str, code: str, param: str | None = None):
    return web.json_response(
        {"error": {"message": message, "type": kind, "param": param, "code": code}}, status=status
    )


def _refused(request: web.Request) -> web.Response | None:
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    expected = request.app[SETTINGS].api_key
    if scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), expected.encode()):
        return None
    return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")


def pcm_24k(utterance) -> bytes:
    """One Piper utterance as OpenAI's pcm: 16-bit little-endian mono at 24 kHz."""
    return utterance.resampled(SAMPLE_RATE).pcm.astype("<i2").tobytes()


async def create_speech(request: web.Request) -> web.StreamResponse:
    refusal = _refused(request)
    if refusal is not None:
        return refusal
    settings: _Settings = request.app[SETTINGS]
    try:
        speech = parse_speech_request(await request.json(), max_chars=settings.max_chars)
    except json.JSONDecodeError:
        return _error(400, "The request body is not valid JSON.", "invalid_request_error",
                      "invalid_json")
    except InvalidSpeech as exc:
        log.info("speech request refused: %s", exc)
        return _error(400, str(exc), "invalid_request_error", "invalid_value", exc.param)
    try:
        speaker = await settings.speaker()
        # Chunks of sentences at 24 kHz (tts.py `Speaker.chunks`): the first words go out while
        # the rest of their sentence is still being synthesised.
        sentences = speaker.chunks(speech.text, sample_rate=SAMPLE_RATE)
        # The first chunk before the headers: a failure still gets an error status.
        first = await asyncio.to_thread(_next_pcm, sentences)
    except Exception:
        log.exception("speech synthesis failed")
        return _error(500, "The speech could not be synthesised.", "server_error", "internal_error")
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE})
    response.enable_chunked_encoding()
    await response.prepare(request)
    chunk, sent = first, 0
    try:
        while chunk is not None:
            await response.write(chunk)
            sent += len(chunk)
            chunk = await asyncio.to_thread(_next_pcm, sentences)
        await response.write_eof()
    except ConnectionError:  # the client left: synthesise nothing more for nobody
        log.info("speech client left after %.2f s of audio", sent / 2 / SAMPLE_RATE)
    except Exception:  # headers are out: ending the stream short is all that is left to say
        log.exception("speech synthesis failed mid-stream")
    finally:
        with contextlib.suppress(Exception):
            sentences.close()
    log.debug("speech: %d chars -> %.2f s", len(speech.text), sent / 2 / SAMPLE_RATE)
    return response


def _next_pcm(sentences: Iterator) -> bytes | None:
    """The next chunk, synthesised (blocking: called in a thread), or None at the end."""
    utterance = next(sentences, None)
    return None if utterance is None else pcm_24k(utterance)


def add_routes(app: web.Application, config: EngineConfig, *, speaker: SpeakerSource) -> None:
    """Mount `POST /openai/v1/audio/speech`, speaking with the Speaker `speaker()` returns."""
    app[SETTINGS] = _Settings(api_key=config.api_key, max_chars=config.max_text_chars,
                              speaker=speaker)
    app.router.add_post("/openai/v1/audio/speech", create_speech)
