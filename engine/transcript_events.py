"""What a live transcription (`transcriber.LiveTranscription`) tells its client, in the shapes of
Deepgram's live messages: `SpeechStarted`, `Results` (interim or final) and `UtteranceEnd`.
The Deepgram route (listen_stream.py) turns them into JSON; benchmarks read them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from .speech_models import Transcript


@dataclass(frozen=True)
class SpeechStarted:
    timestamp: float


@dataclass(frozen=True)
class TranscriptResult:
    transcript: Transcript
    start: float
    duration: float
    is_final: bool
    speech_final: bool
    from_finalize: bool = False


@dataclass(frozen=True)
class UtteranceEnd:
    last_word_end: float


LiveEvent = SpeechStarted | TranscriptResult | UtteranceEnd
