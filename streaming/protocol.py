"""The live page's WebSocket protocol: parse and validate every inbound frame, build outbound ones.

Hand-written rather than pydantic: a dozen small message shapes, and each failure must map to one
specific, user-readable error code.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

MAX_TEXT_FRAME_BYTES = 64 * 1024
MAX_AUDIO_FRAME_BYTES = 64 * 1024
MAX_CHAT_CHARS = 2000
MAX_SDP_CHARS = 20_000
MAX_CANDIDATE_CHARS = 1000
MAX_SDP_MID_CHARS = 64
MAX_SAFE_INTEGER = 2**53 - 1  # JavaScript's Number.MAX_SAFE_INTEGER
AVATAR_EVENTS = {"stream/started", "stream/done", "stream/ready", "stream/error"}
# LiveAvatar FULL mode's `avatar.transcription` (agent-response topic), relayed with its `text`.
TRANSCRIPT_EVENT = "avatar.transcription"
MAX_TRANSCRIPT_CHARS = 10_000


class ProtocolError(Exception):
    """A frame we refuse; `code` is stable for clients, `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def as_message(self) -> dict[str, str]:
        return error(self.code, self.message)


@dataclass(frozen=True)
class ClientMessage:
    type: str
    data: dict[str, Any] = field(default_factory=dict)


def _string(payload: dict, name: str, *, limit: int, required: bool = True) -> str | None:
    value = payload.get(name)
    if value is None:
        if required:
            raise ProtocolError("missing_field", f"'{name}' is required.")
        return None
    if not isinstance(value, str):
        raise ProtocolError("invalid_field", f"'{name}' must be a string.")
    if len(value) > limit:
        raise ProtocolError("too_large", f"'{name}' is longer than {limit} characters.")
    if not is_storable_text(value):
        raise ProtocolError("invalid_text", f"'{name}' holds characters that are not text.")
    return value


def is_storable_text(value: str) -> bool:
    """Text every database and the browser can keep: valid UTF-8 (JSON's \\ud800 escapes give
    lone surrogates, which SQLite and PostgreSQL refuse) and no NUL (PostgreSQL refuses it)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _answer(payload: dict) -> dict:
    sdp = _string(payload, "sdp", limit=MAX_SDP_CHARS)
    if not sdp.startswith("v=0") or "m=" not in sdp:
        raise ProtocolError("bad_sdp", "The SDP answer is not a valid session description.")
    return {"sdp": sdp}


def _ice(payload: dict) -> dict:
    candidate = _string(payload, "candidate", limit=MAX_CANDIDATE_CHARS, required=False)
    if not candidate:  # null or "" is the end-of-candidates signal
        return {"candidate": None, "sdpMid": None, "sdpMLineIndex": None}
    if not candidate.startswith("candidate:"):
        raise ProtocolError("bad_ice", "An ICE candidate must start with 'candidate:'.")
    sdp_mid = _string(payload, "sdpMid", limit=MAX_SDP_MID_CHARS, required=False)
    index = payload.get("sdpMLineIndex")
    if index is not None and (isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 64):
        raise ProtocolError("bad_ice", "'sdpMLineIndex' must be a small non-negative integer.")
    if sdp_mid is None and index is None:
        raise ProtocolError("bad_ice", "An ICE candidate needs 'sdpMid' or 'sdpMLineIndex'.")
    return {"candidate": candidate, "sdpMid": sdp_mid, "sdpMLineIndex": index}


def _chat(payload: dict) -> dict:
    text = _string(payload, "text", limit=MAX_CHAT_CHARS)
    text = text.strip()
    if not text:
        raise ProtocolError("empty_text", "The message is empty.")
    return {"text": text}


def _avatar_event(payload: dict) -> dict:
    event = _string(payload, "event", limit=64)
    if event == TRANSCRIPT_EVENT:
        text = _string(payload, "text", limit=MAX_TRANSCRIPT_CHARS)
        return {"event": event, "text": text}
    if event not in AVATAR_EVENTS:
        raise ProtocolError("invalid_field", f"Unknown avatar event '{event}'.")
    return {"event": event}


def _mic_state(payload: dict) -> dict:
    on = payload.get("on")
    if not isinstance(on, bool):
        raise ProtocolError("invalid_field", "'on' must be true or false.")
    return {"on": on}


def _ping(payload: dict) -> dict:
    """`t` is echoed in the pong when it is a number a browser reads back unchanged."""
    t = payload.get("t")
    plain = isinstance(t, int | float) and not isinstance(t, bool) and abs(t) <= MAX_SAFE_INTEGER
    return {"t": t if plain else None}


def _nothing(payload: dict) -> dict:
    return {}


def _end(payload: dict) -> dict:
    """`reason` tells a closed page ("page_closed") from the End button (the default)."""
    reason = payload.get("reason", "user")
    if reason not in ("user", "page_closed"):
        raise ProtocolError("invalid_field", "'reason' must be 'user' or 'page_closed'.")
    return {"reason": reason}


PARSERS = {
    "rtc.answer": _answer,
    "rtc.ice": _ice,
    "chat.text": _chat,
    "avatar.interrupt": _nothing,
    "avatar.event": _avatar_event,
    "mic.state": _mic_state,
    "session.end": _end,
    "ping": _ping,
}


def _refuse_constant(name: str) -> float:
    raise ProtocolError("bad_number", f"'{name}' is not a number JSON allows.")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999: valid JSON, but no float holds it
        raise ProtocolError("bad_number", "A number in the message is too large.")
    return value


def parse_text_frame(raw: str) -> ClientMessage:
    # "surrogatepass": a str handed over in-process may hold lone surrogates; only size matters here.
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_TEXT_FRAME_BYTES:
        raise ProtocolError("too_large", f"Messages are limited to {MAX_TEXT_FRAME_BYTES} bytes.")
    try:
        payload = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        # The C decoder stops at Python's recursion limit and unwinds cleanly.
        raise ProtocolError("too_deep", "The message is nested too deeply.") from None
    except json.JSONDecodeError:
        raise ProtocolError("bad_json", "The message is not valid JSON.") from None
    except ValueError:  # an integer of more than 4,300 digits (int_max_str_digits)
        raise ProtocolError("bad_number", "A number in the message is too large.") from None
    if not isinstance(payload, dict):
        raise ProtocolError("bad_message", "A message must be a JSON object.")
    kind = payload.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("missing_field", "'type' is required.")
    parser = PARSERS.get(kind)
    if parser is None:
        shown = kind[:40].encode("utf-8", "replace").decode("utf-8")
        raise ProtocolError("unknown_type", f"Unknown message type '{shown}'.")
    return ClientMessage(kind, parser(payload))


def check_audio_frame(data: bytes) -> bytes:
    """Microphone audio: 16 kHz mono PCM16, so a whole number of 2-byte samples."""
    if len(data) > MAX_AUDIO_FRAME_BYTES:
        raise ProtocolError(
            "too_large", f"Audio frames are limited to {MAX_AUDIO_FRAME_BYTES} bytes."
        )
    if not data or len(data) % 2:
        raise ProtocolError("bad_audio", "Audio frames must be 16-bit PCM samples.")
    return data


# Outbound messages -------------------------------------------------------------------------


def error(code: str, message: str) -> dict[str, str]:
    return {"type": "error", "code": code, "message": message}


def message(kind: str, **data: Any) -> dict[str, Any]:
    return {"type": kind, **data}
