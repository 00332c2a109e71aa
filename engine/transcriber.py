"""Live speech recognition: Silero VAD decides when someone speaks and when the turn ends, a
recogniser (Moonshine tiny or whisper tiny.en, see speech_models.py) says what was said.

Neither model streams, so a live transcript is built the way Deepgram's is seen from outside:
- while the voice is on, the current utterance is re-transcribed every `INTERIM_EVERY_SAMPLES`
  (interim results);
- `SPECULATE_AFTER_SAMPLES` into a silence the utterance is transcribed in the background, and
  the result goes out *as soon as it is ready* as Deepgram's `is_final=true, speech_final=false`
  (clients that concatenate finals until `speech_final`, as Deepgram documents, can start work
  on it); https://developers.deepgram.com/docs/understand-endpointing-interim-results
- once the silence reaches `endpointing` ms the utterance ends with `speech_final=true` (empty if
  the speculative final already carried all the words). If speech resumes before that, the
  speculative final stands and the rest comes in later finals of the same utterance.
- `SpeechStarted` (with `vad_events=true`) is sent once the voice has lasted long enough to be
  speech (engine/voice_onset.py: 6 windows of sound if still sounding, else 7 of Silero's voice),
  stamped where the sound began; shorter sounds are neither announced nor transcribed.

Speech, silence and the endpoint are measured in *stream* time (samples received), never the
wall clock, so a client that streams faster or slower than real time gets the same turns; only
whether the speculative final beats the endpoint depends on how fast the recogniser is.
`LiveTranscription` knows nothing about WebSockets: it takes `listen_params.LiveOptions` and
hands `transcript_events` to an async callback, so the Deepgram route, other engine modules and
the benchmarks all drive the same code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from .listen_params import LiveOptions
from .speech_models import (
    EMPTY_TRANSCRIPT,
    SAMPLE_RATE,
    VAD_WINDOW,
    SpeechRecognizer,
    Transcript,
)
from .transcript_events import LiveEvent, SpeechStarted, TranscriptResult, UtteranceEnd
from .voice_onset import OnsetJudge

logger = logging.getLogger(__name__)

SPEECH_THRESHOLD = 0.5  # a window at or above this is speech ...
SILENCE_THRESHOLD = 0.35  # ... and one below this is silence (in between: no change)

PREROLL_SAMPLES = int(0.3 * SAMPLE_RATE)  # audio kept before the VAD fires (it fires late)
# Start the final's transcription one window (32 ms) into a silence: a dropped guess (the
# speaker only paused) costs CPU, a late one costs the user time. Silero rarely calls a single
# window inside an utterance silent (scripts/speech_pauses.py: once or twice in 8 Piper questions,
# never in moonshine-voice's human beckett.wav); a pause at a comma lasts 6 windows or more.
SPECULATE_AFTER_SAMPLES = VAD_WINDOW
MAX_SEGMENT_SAMPLES = 15 * SAMPLE_RATE  # whisper sees 30 s at most; finalise long speech early
INTERIM_EVERY_SAMPLES = int(0.75 * SAMPLE_RATE)
MIN_INTERIM_SPEECH_SAMPLES = int(0.3 * SAMPLE_RATE)


@dataclass
class _Speculation:
    """The final's transcription, started early in a silence."""

    start: int  # the stream samples it transcribes
    until: int
    task: asyncio.Task | None = None
    claimed: bool = False  # the endpoint came first and will emit the result itself


# --------------------------------------------------------------------------- the live session


EmitCallback = Callable[[LiveEvent], Awaitable[None]]


class LiveTranscription:
    """One live stream: feed it audio, it emits Deepgram-shaped events through `emit`.

    `feed`, `finalize` and `close` must be awaited one at a time (one producer per stream);
    interim and speculative transcriptions run in the background and are dropped if their
    stretch of audio was finalised meanwhile, so a client never sees an interim after the final
    it belongs to, nor the same words in two finals.
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
        self._confirmed = False  # the voice lasted long enough to be speech (voice_onset.py)
        self._onset = OnsetJudge()
        self._speech_start = 0
        self._silence_start: int | None = None
        self._segment_start = 0  # first sample of the audio not yet finalised
        self._segment = 0  # bumped at each final: interims of older segments are dropped
        self._interim_sent = False
        self._speech_final_owed = False  # a speculative final went out; speech_final must follow
        self._interim_task: asyncio.Task | None = None
        self._interim_mark = 0
        self._speculation: _Speculation | None = None
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
            await self._finish_segment(
                self._flush_point(),
                speech_final=False,
                from_finalize=True,
                silent=self._only_silence_left() or not self._confirmed,
            )
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
            await self._finish_segment(
                self._flush_point(),
                speech_final=True,
                silent=self._only_silence_left() or not self._confirmed,
            )
        await self.abort()

    async def abort(self) -> None:
        """Stop without emitting anything more (the client is gone)."""
        self._closed = True
        speculation = self._speculation and self._speculation.task
        tasks = [t for t in (self._interim_task, speculation) if t]
        self._interim_task = self._speculation = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _flush_point(self) -> int:
        """Where to cut when told to: the running speculation's end if only silence followed."""
        if self._speculation and self._silence_start is not None:
            return self._speculation.until
        return self.position

    def _only_silence_left(self) -> bool:
        """The audio not yet finalised is all silence (a speculative final took the words)."""
        return self._silence_start is not None and self._segment_start >= self._silence_start

    # -- the state machine, one 32 ms window at a time

    async def _on_window(self, start: int, p: float) -> None:
        end = start + VAD_WINDOW
        self._onset.hear(self._window(start))
        if not self._in_speech:
            if p < SPEECH_THRESHOLD:
                await self._maybe_utterance_end(end)
                return
            self._in_speech, self._confirmed = True, False
            self._speech_start = start
            self._onset.start()
            self._segment_start = max(
                start - PREROLL_SAMPLES, self._buffer_start, self._segment_start
            )
            self._interim_mark = self._segment_start
            self._last_word_end = None  # the utterance goes on: no UtteranceEnd
        if p >= SPEECH_THRESHOLD:
            self._silence_start = None
            self._drop_speculation()
            if not self._confirmed and self._onset.window(
                self._window(start), end - self._speech_start
            ):
                self._confirmed = True
                if self._options.vad_events:  # stamped where the sound began (voice_onset.py)
                    onset = self._speech_start - self._onset.lead * VAD_WINDOW
                    await self._send(SpeechStarted(round(onset / SAMPLE_RATE, 3)))
        elif p < SILENCE_THRESHOLD and self._silence_start is None:
            self._silence_start = start
        if self._silence_start is not None:
            silence = end - self._silence_start
            if silence >= self._options.silence_samples:
                await self._end_utterance(end)
                return
            if silence >= SPECULATE_AFTER_SAMPLES and self._confirmed:
                self._speculate(end)
        if end - self._segment_start >= MAX_SEGMENT_SAMPLES:
            await self._finish_segment(end, speech_final=False)

    def _window(self, start: int) -> np.ndarray:
        at = start - self._buffer_start
        return self._buffer[max(at, 0) : at + VAD_WINDOW]

    async def _end_utterance(self, end: int) -> None:
        self._in_speech = False
        speech_final = self._options.endpointing_ms is not None
        if self._speculation:
            await self._finish_segment(self._speculation.until, speech_final=speech_final)
        else:  # a noise too short to be speech, or the speculative final took every word
            silent = self._only_silence_left() or not self._confirmed
            await self._finish_segment(end, speech_final=speech_final, silent=silent)

    async def _finish_segment(
        self, until: int, *, speech_final: bool, from_finalize: bool = False, silent: bool = False
    ) -> None:
        start = self._segment_start
        speculation, self._speculation = self._speculation, None
        if speculation:
            speculation.claimed = True
        if silent or until <= start:
            transcript = EMPTY_TRANSCRIPT
            if speculation and speculation.task:
                speculation.task.cancel()
        elif speculation and speculation.until == until and speculation.task:
            transcript = await speculation.task
        else:
            if speculation and speculation.task:
                speculation.task.cancel()
            transcript = await self._transcribe(start, until, word_timestamps=True)
        if self._interim_task:
            self._interim_task.cancel()
            self._interim_task = None
        async with self._emit_lock:
            self._segment += 1
            interim_sent, self._interim_sent = self._interim_sent, False
            owed = self._speech_final_owed and speech_final
            if speech_final or from_finalize:  # after Finalize no speech_final is owed
                self._speech_final_owed = False
            self._segment_start = self._interim_mark = max(until, start)
            if transcript.text or interim_sent or from_finalize or owed:
                await self._emit(
                    self._result(transcript, start, until, speech_final, from_finalize)
                )
        if transcript.words and self._options.utterance_end_ms:
            self._last_word_end = transcript.words[-1].end

    def _result(
        self,
        transcript: Transcript,
        start: int,
        until: int,
        speech_final: bool = False,
        from_finalize: bool = False,
        *,
        is_final: bool = True,
    ) -> TranscriptResult:
        return TranscriptResult(
            transcript=transcript,
            start=round(start / SAMPLE_RATE, 3),
            duration=round(max(until - start, 0) / SAMPLE_RATE, 3),
            is_final=is_final,
            speech_final=speech_final,
            from_finalize=from_finalize,
        )

    async def _maybe_utterance_end(self, position: int) -> None:
        if self._last_word_end is None or not self._options.utterance_end_ms:
            return
        if position / SAMPLE_RATE - self._last_word_end >= self._options.utterance_end_ms / 1000:
            last_word_end, self._last_word_end = self._last_word_end, None
            await self._send(UtteranceEnd(last_word_end=last_word_end))

    # -- background transcriptions

    def _speculate(self, until: int) -> None:
        """Transcribe the utterance as soon as the silence begins, before the endpoint."""
        if self._speculation is not None or self._only_silence_left():
            return
        speculation = _Speculation(self._segment_start, until)
        speculation.task = asyncio.create_task(
            self._speculative_final(speculation), name="stt-final"
        )
        self._speculation = speculation

    async def _speculative_final(self, speculation: _Speculation) -> Transcript:
        """The speculation's transcript, sent at once as `is_final` unless the endpoint came first."""
        start = speculation.start
        transcript = await self._transcribe(start, speculation.until, word_timestamps=True)
        async with self._emit_lock:
            if speculation.claimed or self._speculation is not speculation or self._closed:
                return transcript  # the endpoint (or Finalize) emits it, or it was dropped
            if not transcript.text:
                return transcript  # nothing to say early; the endpoint decides
            self._speculation = None
            self._segment += 1
            self._interim_sent = False
            self._segment_start = self._interim_mark = speculation.until
            self._speech_final_owed = self._options.endpointing_ms is not None
            await self._emit(self._result(transcript, start, speculation.until, False, False))
        if transcript.words and self._options.utterance_end_ms:
            self._last_word_end = transcript.words[-1].end
        return transcript

    def _drop_speculation(self) -> None:
        if self._speculation:
            if self._speculation.task:
                self._speculation.task.cancel()
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
                await self._emit(self._result(transcript, start, until, is_final=False))
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
