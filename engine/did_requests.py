"""D-ID streams' request bodies, parsed and validated: each bad field is a 400 that names it.

Fields follow D-ID's Talks streams reference (https://docs.d-id.com/reference/overview-3).
"""

from __future__ import annotations

import html
import logging
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from .config import MAX_SESSION_TIMEOUT, EngineConfig
from .did_errors import invalid
from .stream_session import StreamOptions

log = logging.getLogger(__name__)

CODEC_BY_COMPATIBILITY = {"on": "VP8", "off": "H264", "auto": "VP8"}
MAX_RESOLUTION = 1080
MIN_RENDER_SIDE = 64
MAX_AUDIO_SECONDS = 300


async def read_json(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    if not request.can_read_body:
        if required:
            raise invalid("the request body must be a JSON object")
        return {}
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    return body


def _number(body: dict, name: str, *, low: float, high: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"{name} must be a number")
    if not low <= value <= high:
        raise invalid(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def _flag(body: dict, name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise invalid(f"{name} must be true or false")
    return value


def text_field(body: dict, name: str, *, required: bool = False, where: str = "") -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{where}{name} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"{where}{name} must be a non-empty string")
    return value


def _object(body: dict, name: str) -> dict:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{name} must be an object")
    return value


@dataclass(frozen=True)
class CreateStream:
    """POST /talks/streams, /clips/streams or /agents/{id}/streams."""

    source_url: str | None
    presenter_id: str | None
    options: StreamOptions
    face: dict | None = None

    @classmethod
    def parse(cls, kind: str, body: dict, config: EngineConfig) -> CreateStream:
        source_url = presenter_id = None
        if kind == "talks":
            source_url = text_field(body, "source_url", required=True)
            text_field(body, "driver_url")  # accepted; the local renderer has no driver videos
        elif kind == "clips":
            presenter_id = text_field(body, "presenter_id", required=True)
            text_field(body, "driver_id")
        else:  # agents: the agent's presenter, or (engine extension) a photo of one's own
            source_url = text_field(body, "source_url")
        face = _object(body, "face") or None
        if face is not None:
            _validate_face(face)
        _object(body, "config")  # motion_factor, align_expand_factor, stitch: nothing to tune
        mode = body.get("compatibility_mode", "auto")
        if mode not in CODEC_BY_COMPATIBILITY:
            raise invalid('compatibility_mode must be "on" (VP8), "off" (H264) or "auto"')
        default_timeout = (
            config.agent_session_timeout if kind == "agents" else config.session_timeout
        )
        timeout = _number(
            body, "session_timeout", low=0, high=MAX_SESSION_TIMEOUT, default=default_timeout
        )
        if timeout <= 0:
            raise invalid("session_timeout must be greater than 0")
        resolution = _number(
            body,
            "output_resolution",
            low=0,
            high=MAX_RESOLUTION,
            default=config.default_resolution,
        )
        if resolution != int(resolution):
            raise invalid("output_resolution must be a whole number of pixels")
        resolution = int(resolution) or config.default_resolution
        options = StreamOptions(
            video_codec=CODEC_BY_COMPATIBILITY[mode],
            stream_warmup=_flag(body, "stream_warmup"),
            session_timeout=timeout,
            output_resolution=max(MIN_RENDER_SIDE, resolution),
        )
        return cls(source_url=source_url, presenter_id=presenter_id, options=options, face=face)


def _validate_face(face: dict) -> None:
    top_left, size = face.get("top_left"), face.get("size")
    if top_left is not None and not (
        isinstance(top_left, list)
        and len(top_left) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in top_left)
    ):
        raise invalid("face.top_left must be [x, y]")
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int | float) or size <= 0
    ):
        raise invalid("face.size must be a positive number")


@dataclass(frozen=True)
class TalkRequest:
    """POST /talks/streams/{id}: a text or audio script, optional config, the session id."""

    text: str | None = None
    audio_url: str | None = None
    config: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, body: dict, config: EngineConfig) -> TalkRequest:
        script = body.get("script")
        if not isinstance(script, dict):
            raise invalid("script is required and must be an object")
        talk_config = _object(body, "config")
        if "fluent" in talk_config:
            _flag(talk_config, "fluent")
        if "stitch" in talk_config:
            _flag(talk_config, "stitch")
        if "pad_audio" in talk_config:
            _number(talk_config, "pad_audio", low=0, high=60, default=0)
        kind = script.get("type")
        if kind == "text":
            text = text_field(script, "input", required=True, where="script.")
            provider = script.get("provider")
            if provider is not None and not (
                isinstance(provider, dict) and isinstance(provider.get("type"), str)
            ):
                raise invalid("script.provider must be an object with a type")
            if _flag(script, "ssml"):
                text = html.unescape(re.sub(r"<[^>]+>", " ", text))
            text = " ".join(text.split())
            if not text:
                raise invalid("script.input has nothing to say")
            if len(text) > config.max_text_chars:
                raise invalid(
                    f"script.input is {len(text)} characters; the limit is {config.max_text_chars}"
                )
            return cls(text=text, config=talk_config)
        if kind == "audio":
            return cls(
                audio_url=text_field(script, "audio_url", required=True, where="script."),
                config=talk_config,
            )
        raise invalid('script.type must be "text" or "audio"')


@dataclass(frozen=True)
class IceRequest:
    """POST .../ice: one candidate, or end-of-candidates (candidate missing, null or "")."""

    candidate: str | None
    sdp_mid: str | None
    sdp_mline_index: int | None

    @classmethod
    def parse(cls, body: dict) -> IceRequest:
        candidate = body.get("candidate")
        if candidate is None or candidate == "":
            return cls(None, None, None)
        if not isinstance(candidate, str):
            raise invalid("candidate must be a string (or null for end-of-candidates)")
        sdp_mid = body.get("sdpMid")
        if sdp_mid is not None and not isinstance(sdp_mid, str):
            raise invalid("sdpMid must be a string")
        index = body.get("sdpMLineIndex")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int | float) or index != int(index):
                raise invalid("sdpMLineIndex must be a whole number")
            if index < 0:
                raise invalid("sdpMLineIndex must not be negative")
            index = int(index)
        if sdp_mid is None and index is None:
            raise invalid("an ICE candidate needs sdpMid or sdpMLineIndex")
        return cls(candidate, sdp_mid, index)


def parse_answer(body: dict) -> str:
    answer = body.get("answer")
    if not isinstance(answer, dict):
        raise invalid("answer is required: the JSEP answer object {type, sdp}")
    if answer.get("type") != "answer":
        raise invalid('answer.type must be "answer"')
    sdp = answer.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise invalid("answer.sdp must be the SDP text of the answer")
    return sdp


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """An audio file (WAV, MP3, OGG, ...) as mono int16 PCM and its rate; 400 if it is not one."""
    # Lazy: tts (and scipy) load only when a talk sends an audio script.
    from .utterance import NotAudio
    from .utterance import decode_audio as decode

    try:
        pcm, rate = decode(data)
    except NotAudio as exc:
        log.info("script.audio_url is not audio: %s", exc)
        raise invalid("script.audio_url is not audio the engine can decode") from exc
    if not len(pcm):
        raise invalid("script.audio_url decodes to no audio")
    if len(pcm) > MAX_AUDIO_SECONDS * rate:
        raise invalid(f"script.audio_url is longer than {MAX_AUDIO_SECONDS} s")
    return pcm, rate
