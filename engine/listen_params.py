"""The query parameters of Deepgram's `GET /v1/listen`, parsed and checked for the local engine;
`LiveOptions` is the part a live transcription (transcriber.py) acts on.

Names and defaults follow https://developers.deepgram.com/reference/speech-to-text/listen-streaming;
what the local engine cannot honour raises `InvalidParameter`, which closes the socket with 1008.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .speech_models import SAMPLE_RATE

# End of turn after 250 ms of silence (the product's target; Deepgram's Flux is at about 260 ms).
# Deepgram's documented default (10 ms) assumes its own end-of-speech model; on 32 ms Silero
# windows it would cut at every breath, so a missing value means this instead.
DEFAULT_ENDPOINTING_MS = 250
MIN_ENDPOINTING_MS = 100


class InvalidParameter(ValueError):
    pass


@dataclass(frozen=True)
class LiveOptions:
    """What a live client asked for (Deepgram's query parameters, already validated)."""

    interim_results: bool = False
    # Silence that ends an utterance; None: endpointing off (finals still come, speech_final never).
    endpointing_ms: int | None = DEFAULT_ENDPOINTING_MS
    utterance_end_ms: int | None = None
    vad_events: bool = False

    @property
    def silence_samples(self) -> int:
        ms = DEFAULT_ENDPOINTING_MS if self.endpointing_ms is None else self.endpointing_ms
        return max(ms, MIN_ENDPOINTING_MS) * SAMPLE_RATE // 1000


@dataclass
class ListenParams:
    encoding: str = "linear16"
    sample_rate: int = 16_000
    channels: int = 1
    model: str = "nova-2"
    language: str = "en"
    punctuate: bool = False
    smart_format: bool = False
    live: LiveOptions = field(default_factory=LiveOptions)

    @property
    def formatted(self) -> bool:
        return self.punctuate or self.smart_format

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ListenParams:
        encoding = query.get("encoding")
        if encoding is None:
            raise InvalidParameter(
                "DATA-0000: send raw audio with encoding=linear16&sample_rate=16000 "
                "(the local engine does not sniff containers)"
            )
        if encoding.lower() != "linear16":
            raise InvalidParameter(
                f"DATA-0000: unsupported encoding '{encoding[:20]}'; "
                "the local engine accepts encoding=linear16 only"
            )
        if query.get("multichannel", "false").lower() == "true":
            raise InvalidParameter("multichannel=true is not supported by the local engine")
        language = query.get("language", "en")
        if language.lower() != "en" and not language.lower().startswith("en-"):
            raise InvalidParameter(
                f"language '{language[:20]}' is not supported; the local engine transcribes English"
            )
        endpointing = query.get("endpointing")
        if endpointing is None:
            endpointing_ms: int | None = DEFAULT_ENDPOINTING_MS
        elif endpointing.lower() == "false":
            endpointing_ms = None
        elif endpointing.lower() == "true":
            endpointing_ms = DEFAULT_ENDPOINTING_MS
        else:
            endpointing_ms = _integer(query, "endpointing", 0, 60_000)
        utterance_end = query.get("utterance_end_ms")
        return cls(
            encoding="linear16",
            sample_rate=_integer(query, "sample_rate", 1, 10_000_000, default=16_000),
            channels=_integer(query, "channels", 1, 64, default=1),
            model=query.get("model", "nova-2"),
            language=language,
            punctuate=_boolean(query, "punctuate"),
            smart_format=_boolean(query, "smart_format"),
            live=LiveOptions(
                interim_results=_boolean(query, "interim_results"),
                endpointing_ms=endpointing_ms,
                utterance_end_ms=(
                    _integer(query, "utterance_end_ms", 1, 60_000) if utterance_end else None
                ),
                vad_events=_boolean(query, "vad_events"),
            ),
        )


def _boolean(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise InvalidParameter(f"{name} must be true or false, not '{value[:20]}'")
    return value == "true"


def _integer(query: Mapping[str, str], name: str, low: int, high: int, default: int = 0) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be an integer, not '{raw[:20]}'") from None
    if not low <= value <= high:
        raise InvalidParameter(f"{name} must be between {low} and {high}")
    return value
