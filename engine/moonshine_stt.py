"""Moonshine tiny (English) from `moonshine-voice==0.1.0`: the engine's default recogniser.

Moonshine encodes only the audio it is given (whisper always encodes 30 s), so a 2–3 s question
costs a few hundred ms on one core instead of about a second.
https://github.com/moonshine-ai/moonshine (MIT; the English models too).

Pinned to 0.1.0: it is the last release whose wheel ships the tiny-en weights (later ones
download them at run time, and the engine never downloads models).
"""

from __future__ import annotations

import os
import queue
import time
from importlib.metadata import version

import numpy as np

from .speech_models import (
    EMPTY_TRANSCRIPT,
    SAMPLE_RATE,
    VAD_WINDOW,
    SpeechRecognizer,
    Transcript,
    spread_over,
    transcript_from,
)

# Moonshine has no thread option; its bundled onnxruntime reads this before a model loads.
SINGLE_THREAD_ENV = "MOONSHINE_ORT_SINGLE_THREAD"
# Moonshine writes a confidence nowhere; Deepgram's field is required, so a constant stands in.
CONFIDENCE = 0.9
# Moonshine likes to say "You" or "The" over leading silence, so it gets at most this much audio
# before our VAD heard speech (Silero fires 1-2 windows late on a soft onset), and a line its own
# VAD ends before our onset is dropped as noise.
MAX_PREROLL = 0.15
PREROLL_NOISE_SLACK = 0.05


class MoonshineRecognizer(SpeechRecognizer):
    arch = "moonshine"

    def __init__(self, transcribers: list, **kwargs) -> None:
        super().__init__(**kwargs)
        # One handle per executor thread: the C library's thread safety on a shared handle is
        # not documented, so a call borrows a handle of its own.
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        for transcriber in transcribers:
            self._free.put(transcriber)
        # No explicit close: a call still running on an executor thread holds its handle, and
        # the binding frees each handle when the last reference goes (Transcriber.__del__).

    @classmethod
    def load(cls, model: str | None = None) -> MoonshineRecognizer:
        """Load Moonshine tiny-en (shipped in the wheel) and Silero VAD. Blocking."""
        os.environ.setdefault(SINGLE_THREAD_ENV, "1")  # one core per call, whatever the machine
        # Imported after the variable is set; the library reads it when it loads.
        from moonshine_voice import ModelArch, Transcriber
        from moonshine_voice.utils import get_assets_path

        started = time.perf_counter()
        path = str(get_assets_path() / "tiny-en")
        # identify_speakers: diarisation is on by default and costs time for nothing here.
        transcribers = [
            Transcriber(path, ModelArch.TINY, options={"identify_speakers": "false"})
            for _ in range(cls.workers)
        ]
        return cls._loaded(
            transcribers,
            started=started,
            model_name="moonshine-tiny-en",
            model_version=f"moonshine-voice-{version('moonshine-voice')}",
        )

    def _recognise(
        self, audio: np.ndarray, offset: float, word_timestamps: bool, span: tuple[float, float]
    ) -> Transcript:
        lo, hi = span
        cut = max(0, int((lo - MAX_PREROLL - offset) * SAMPLE_RATE))
        if cut and len(audio) - cut >= VAD_WINDOW:
            audio, offset = audio[cut:], offset + cut / SAMPLE_RATE
        transcriber = self._free.get()
        try:
            # The binding copies a Python list into a C float array (a few ms for a few seconds).
            lines = transcriber.transcribe_without_streaming(
                audio.astype(np.float32, copy=False).tolist(), SAMPLE_RATE
            ).lines
        finally:
            self._free.put(transcriber)
        texts = [
            line.text.strip()
            for line in lines
            if line.text.strip()
            and offset + line.start_time + line.duration > lo - PREROLL_NOISE_SLACK
        ]
        text = " ".join(texts)
        if not text:
            return EMPTY_TRANSCRIPT
        # tiny-en ships no word-timestamp model: words share out the speech span.
        raw = spread_over([(token, None, None, CONFIDENCE) for token in text.split()], lo, hi)
        return transcript_from(raw, text, lo, hi)
