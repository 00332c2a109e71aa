"""The speech-to-text interface: a live session fed with PCM that yields transcript events."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal, Self

EventKind = Literal["interim", "final", "utterance_end", "speech_started"]


@dataclass(frozen=True)
class TranscriptEvent:
    """One thing the recogniser noticed.

    `interim`: a guess that may still change. `final`: this stretch of audio will not be
    transcribed again (`speech_final` also says the speaker paused: end of the utterance).
    `utterance_end`: a gap after the last word, even if no `speech_final` came (noisy rooms).
    `speech_started`: voice activity began (barge-in can act on it before any words).
    `start` and `duration` are seconds from the start of the audio.
    """

    kind: EventKind
    text: str = ""
    is_final: bool = False
    speech_final: bool = False
    start: float = 0.0
    duration: float = 0.0


class SpeechToTextSession(ABC):
    """A live recognition session: `start()`, `send(pcm)` repeatedly, iterate events, `close()`.

    Also an async context manager (`start` on enter, `close` on exit).
    """

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @abstractmethod
    async def start(self) -> None:
        """Connect; ProviderError if the service cannot be reached or refuses us."""

    @abstractmethod
    async def send(self, pcm: bytes) -> None:
        """Send a chunk of 16-bit little-endian mono PCM at the session's sample rate."""

    @abstractmethod
    async def close(self) -> None:
        """Stop recognising and disconnect; safe to call more than once."""

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[TranscriptEvent]:
        """Transcript events until the session closes."""
