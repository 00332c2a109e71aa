"""The avatar as two WebRTC tracks, video and audio, playing speech on one clock.

Lip sync comes from scheduling, not from chasing: when an utterance is ready it is placed on a
`Timeline` at a sample position of the 48 kHz media clock. The audio track plays whatever the
timeline holds at its position; the video track asks the timeline which utterance covers its
frame's time and takes the mouth from there. Both tracks pace themselves from the same start
time, so a frame and the sound it belongs to leave together (as in aiortc's own tracks, each
frame is returned when its media time comes).

Synthesis (Piper) and, when it is slow, rendering run in a thread executor so the event loop
stays free for the other sessions of the engine.
"""

from __future__ import annotations

import asyncio
import fractions
import itertools
import logging
import math
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame, VideoFrame

from .renderer import TalkingHeadRenderer
from .tts import Speaker, Utterance, utterance_from_audio

logger = logging.getLogger(__name__)

SAMPLE_RATE = 48000
AUDIO_PTIME = 0.020
AUDIO_SAMPLES = int(SAMPLE_RATE * AUDIO_PTIME)  # 960
VIDEO_CLOCK_RATE = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
AUDIO_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
INLINE_RENDER_BUDGET = 0.005  # seconds: slower frames are rendered in the executor
KEEP_PLAYED = SAMPLE_RATE  # keep a second of played audio for late video frames

EventHandler = Callable[[str, dict], None]


class MediaClock:
    """Media time shared by both tracks: it starts when the first track asks for a frame."""

    def __init__(self) -> None:
        self._start: float | None = None

    @property
    def started(self) -> bool:
        return self._start is not None

    def start(self) -> None:
        if self._start is None:
            self._start = time.monotonic()

    def now(self) -> float:
        """Seconds of media time elapsed (0 before the start)."""
        return 0.0 if self._start is None else time.monotonic() - self._start

    async def wait_until(self, media_time: float) -> None:
        self.start()
        delay = self._start + media_time - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)


@dataclass(eq=False)
class Talk:
    """One `say_*` call: a text (possibly several sentences) or a recording."""

    id: str
    text: str = ""
    queued_at: float = field(default_factory=time.monotonic)
    start: int | None = None  # first sample on the timeline
    end: int | None = None  # end of the last scheduled sample
    complete: bool = False  # every sentence is on the timeline
    cancelled: bool = False
    started_sent: bool = False
    done_sent: bool = False


@dataclass(eq=False)
class _Segment:
    talk: Talk
    start: int
    utterance: Utterance  # at SAMPLE_RATE

    @property
    def end(self) -> int:
        return self.start + len(self.utterance.pcm)


class Timeline:
    """Utterances placed at sample positions of the media clock; audio and video read it."""

    def __init__(self, clock: MediaClock, emit: Callable[[str, dict], None]) -> None:
        self.clock = clock
        self._emit = emit
        self._segments: list[_Segment] = []
        self._talks: list[Talk] = []  # scheduled or scheduling, not yet done
        self.tail = 0  # where the next utterance may start
        self.audio_position = 0  # the next sample the audio track will send
        self.audio_started = False
        self.lead = 2 * AUDIO_SAMPLES  # start a little ahead so no frame is already drawn

    def _earliest(self) -> int:
        now = max(self.audio_position, int(self.clock.now() * SAMPLE_RATE)) + self.lead
        return int(math.ceil(now / AUDIO_SAMPLES)) * AUDIO_SAMPLES

    def schedule(self, talk: Talk, utterance: Utterance) -> _Segment:
        """Put an utterance (at SAMPLE_RATE) after everything scheduled, or as soon as possible."""
        start = self.tail if self.tail >= self._earliest() else self._earliest()
        segment = _Segment(talk, start, utterance)
        self._segments.append(segment)
        self.tail = segment.end
        if talk.start is None:
            talk.start = start
            self._talks.append(talk)
        talk.end = segment.end
        return segment

    def finish(self, talk: Talk) -> None:
        """No more sentences will come for this talk."""
        talk.complete = True
        if talk.start is None and not talk.cancelled:  # nothing to say: report it at once
            self._send_started(talk)
            self._send_done(talk, interrupted=False)

    def begin_audio(self, position: int) -> None:
        """The audio track starts at this sample: move speech scheduled before it to play whole."""
        self.audio_position = position
        self.audio_started = True
        if self._segments and self._segments[0].start < position:
            shift = self._earliest() - self._segments[0].start
            for segment in self._segments:
                segment.start += shift
            for talk in self._talks:
                talk.start = None if talk.start is None else talk.start + shift
                talk.end = None if talk.end is None else talk.end + shift
            self.tail += shift

    def pull_audio(self, position: int, count: int = AUDIO_SAMPLES) -> np.ndarray:
        """The samples [position, position + count) and the talk events they cause."""
        out = np.zeros(count, np.int16)
        end = position + count
        events: list[tuple[int, int, Talk]] = []  # (sample, 0 done / 1 started, talk)
        for segment in self._segments:
            if segment.end <= position or segment.start >= end:
                continue
            a, b = max(position, segment.start), min(end, segment.end)
            out[a - position : b - position] = segment.utterance.pcm[
                a - segment.start : b - segment.start
            ]
            if not segment.talk.started_sent:
                events.append((segment.start, 1, segment.talk))
        for talk in self._talks:
            if talk.complete and talk.end is not None and talk.end <= end:
                events.append((talk.end, 0, talk))
        # A talk that ends in this frame is done before the next one, starting in it, starts.
        for _, starting, talk in sorted(events, key=lambda e: (e[0], e[1])):
            if starting and not talk.started_sent:
                self._send_started(talk)
            elif not starting:
                if not talk.started_sent:
                    self._send_started(talk)
                self._send_done(talk, interrupted=False)
        self.audio_position = end
        self._segments = [s for s in self._segments if s.end > position - KEEP_PLAYED]
        return out

    def mouth_at(self, media_time: float) -> tuple[float, str | None, float | None]:
        """(openness, viseme, spread) of the speech playing at this media time."""
        sample = media_time * SAMPLE_RATE
        for segment in self._segments:
            if segment.start <= sample < segment.end:
                return segment.utterance.mouth_at((sample - segment.start) / SAMPLE_RATE)
        return 0.0, None, None

    def interrupt(self, talks: list[Talk]) -> None:
        """Cut everything from the audio track's next sample on, and cancel these talks."""
        if self.audio_started:
            cut = self.audio_position
        else:
            cut = int(math.ceil(self.clock.now() * SAMPLE_RATE / AUDIO_SAMPLES)) * AUDIO_SAMPLES
        kept = []
        for segment in self._segments:
            if segment.start >= cut:
                continue
            if segment.end > cut:
                segment.utterance = replace(
                    segment.utterance, pcm=segment.utterance.pcm[: cut - segment.start]
                )
            kept.append(segment)
        self._segments = kept
        self.tail = cut
        for talk in talks:
            talk.cancelled = True
            if talk.started_sent and not talk.done_sent:
                talk.end = min(talk.end or cut, cut)
                self._send_done(talk, interrupted=True)
            talk.complete = True
        self._talks = [t for t in self._talks if not t.cancelled]

    def _send_started(self, talk: Talk) -> None:
        talk.started_sent = True
        self._emit(
            "stream/started",
            {"talk_id": talk.id, "latency": round(time.monotonic() - talk.queued_at, 3)},
        )

    def _send_done(self, talk: Talk, *, interrupted: bool) -> None:
        if talk.done_sent:
            return
        talk.done_sent = True
        played = 0 if talk.start is None or talk.end is None else talk.end - talk.start
        self._emit(
            "stream/done",
            {
                "talk_id": talk.id,
                "duration": round(played / SAMPLE_RATE, 3),
                "interrupted": interrupted,
            },
        )
        if talk in self._talks:
            self._talks.remove(talk)


class AvatarVideoTrack(MediaStreamTrack):
    """25 fps frames of the talking head; the mouth follows the timeline."""

    kind = "video"

    def __init__(self, player: AvatarPlayer) -> None:
        super().__init__()
        self._player = player
        self._index: int | None = None

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        player = self._player
        clock, fps = player.clock, player.fps
        clock.start()
        if self._index is None:
            self._index = math.floor(clock.now() * fps + 0.5)
        else:
            self._index += 1
        await clock.wait_until(self._index / fps)
        if clock.now() - self._index / fps > 2 / fps:  # fell behind: skip to now, stay real-time
            self._index = int(clock.now() * fps)
        t = self._index / fps
        openness, viseme, spread = player.timeline.mouth_at(t + 0.5 / fps)
        image = await player._render(t, openness, viseme, spread)
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = self._index * (VIDEO_CLOCK_RATE // fps)
        frame.time_base = VIDEO_TIME_BASE
        return frame


class AvatarAudioTrack(MediaStreamTrack):
    """48 kHz mono s16 frames of 20 ms: speech from the timeline, else silence."""

    kind = "audio"

    def __init__(self, player: AvatarPlayer) -> None:
        super().__init__()
        self._player = player
        self._index: int | None = None

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        clock = self._player.clock
        clock.start()
        if self._index is None:
            self._index = math.floor(clock.now() / AUDIO_PTIME + 0.5)
            self._player.timeline.begin_audio(self._index * AUDIO_SAMPLES)
        else:
            self._index += 1
        await clock.wait_until(self._index * AUDIO_PTIME)
        samples = self._player.timeline.pull_audio(self._index * AUDIO_SAMPLES)
        frame = AudioFrame(format="s16", layout="mono", samples=AUDIO_SAMPLES)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._index * AUDIO_SAMPLES
        frame.time_base = AUDIO_TIME_BASE
        return frame


_NO_MORE = object()


def _next_sentence(sentences: Iterator[Utterance]) -> Utterance | object:
    """Synthesize the next sentence and bring it to the tracks' rate (runs in a thread)."""
    utterance = next(sentences, None)
    return _NO_MORE if utterance is None else utterance.resampled(SAMPLE_RATE)


def _recording(pcm: np.ndarray, sample_rate: int, fps: int) -> Utterance:
    return utterance_from_audio(pcm, sample_rate, fps=fps).resampled(SAMPLE_RATE)


class AvatarPlayer:
    """A talking head that says texts and recordings, in order, on a video and an audio track.

    `on_event(name, payload)` is called on the event loop with ("stream/started",
    {"talk_id", "latency"}) when a talk's first audio frame goes out and ("stream/done",
    {"talk_id", "duration", "interrupted"}) when its last one does (or it is interrupted).
    It must not block. Events are driven by the audio track, so it must be consumed.
    """

    def __init__(
        self,
        renderer: TalkingHeadRenderer,
        speaker: Speaker | None,
        fps: int = 25,
        *,
        on_event: EventHandler | None = None,
        executor: Executor | None = None,
    ) -> None:
        if VIDEO_CLOCK_RATE % fps:
            raise ValueError("fps must divide 90000")
        self.renderer = renderer
        self.speaker = speaker
        self.fps = fps
        self.on_event = on_event
        self.clock = MediaClock()
        self.timeline = Timeline(self.clock, self._emit)
        self.video = AvatarVideoTrack(self)
        self.audio = AvatarAudioTrack(self)
        self._executor = executor
        self._queue: asyncio.Queue[tuple[Talk, object]] = asyncio.Queue()
        self._talks: list[Talk] = []  # said and not yet done
        self._worker: asyncio.Task | None = None
        self._render_seconds = 1.0  # until measured, render in the executor
        self._ids = itertools.count(1)
        self._stopped = False

    @property
    def is_speaking(self) -> bool:
        """True from a `say_*` call until that talk (and any queued after it) is done."""
        self._talks = [t for t in self._talks if not (t.done_sent or t.cancelled)]
        return bool(self._talks)

    async def say_text(self, text: str, *, talk_id: str | None = None) -> str:
        """Queue a text to be spoken; returns the talk id its events will carry."""
        if self.speaker is None:
            raise RuntimeError("this player has no speaker (text-to-speech) to say text with")
        if not text or not text.strip():
            raise ValueError("nothing to say")
        return self._enqueue(Talk(talk_id or self._new_id(), text=text), text)

    async def say_audio(
        self, pcm: np.ndarray, sample_rate: int, *, talk_id: str | None = None
    ) -> str:
        """Queue recorded speech (mono or multi-channel, int16 or float); the mouth follows it."""
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        return self._enqueue(Talk(talk_id or self._new_id()), (np.asarray(pcm), int(sample_rate)))

    def interrupt(self) -> None:
        """Stop talking now: the current talk is cut at the next audio frame, queued ones dropped."""
        talks = [t for t in self._talks if not t.done_sent]
        while not self._queue.empty():
            self._queue.get_nowait()
        self.timeline.interrupt(talks)
        self._talks = []

    async def warm_up(self, seconds: float = 1.0) -> None:
        """Load caches (a short synthesis, one frame) while the tracks play idle for `seconds`."""
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        if self.speaker is not None:
            await loop.run_in_executor(
                self._executor, _next_sentence, self.speaker.sentences("Hi.")
            )
        await self._render(0.0, 0.0, None, None)
        await asyncio.sleep(max(0.0, seconds - (time.monotonic() - started)))

    def stop(self) -> None:
        """End both tracks and drop all speech."""
        if self._stopped:
            return
        self._stopped = True
        self.interrupt()
        if self._worker is not None:
            self._worker.cancel()
        self.video.stop()
        self.audio.stop()

    # -- internals --

    def _new_id(self) -> str:
        return f"tlk_{uuid.uuid4().hex[:12]}_{next(self._ids)}"

    def _enqueue(self, talk: Talk, source: object) -> str:
        if self._stopped:
            raise RuntimeError("the player is stopped")
        self._talks.append(talk)
        self._queue.put_nowait((talk, source))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._prepare_talks())
        return talk.id

    async def _prepare_talks(self) -> None:
        """Synthesize queued talks in order and put each sentence on the timeline when ready."""
        loop = asyncio.get_running_loop()
        while True:
            talk, source = await self._queue.get()
            if talk.cancelled:
                continue
            try:
                if isinstance(source, str):
                    sentences = self.speaker.sentences(source)
                    while True:
                        utterance = await loop.run_in_executor(
                            self._executor, _next_sentence, sentences
                        )
                        if talk.cancelled or utterance is _NO_MORE:
                            break
                        self.timeline.schedule(talk, utterance)
                else:
                    pcm, rate = source
                    utterance = await loop.run_in_executor(
                        self._executor, _recording, pcm, rate, self.fps
                    )
                    if not talk.cancelled and len(utterance.pcm):
                        self.timeline.schedule(talk, utterance)
            except Exception:
                logger.exception("could not prepare talk %s", talk.id)
            if not talk.cancelled:
                self.timeline.finish(talk)

    async def _render(
        self, t: float, openness: float, viseme: str | None, spread: float | None
    ) -> np.ndarray:
        """A frame, drawn inline when frames are cheap, else in the executor."""
        args = (t, openness, viseme, spread)
        if self._render_seconds < INLINE_RENDER_BUDGET:
            image, elapsed = self._timed_frame(*args)
        else:
            loop = asyncio.get_running_loop()
            image, elapsed = await loop.run_in_executor(self._executor, self._timed_frame, *args)
        first = self._render_seconds >= 1.0
        self._render_seconds = elapsed if first else 0.8 * self._render_seconds + 0.2 * elapsed
        return image

    def _timed_frame(self, *args) -> tuple[np.ndarray, float]:
        started = time.perf_counter()
        image = self.renderer.frame(*args)
        return image, time.perf_counter() - started

    def _emit(self, name: str, payload: dict) -> None:
        if name == "stream/done":
            self._talks = [t for t in self._talks if t.id != payload["talk_id"]]
        if self.on_event is None:
            return
        try:
            self.on_event(name, payload)
        except Exception:
            logger.exception("on_event handler failed for %s", name)
