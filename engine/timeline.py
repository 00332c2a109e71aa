"""The media clock and the timeline both tracks of a player read (see player.py).

Utterances are placed at sample positions of the 48 kHz media clock; the audio track plays
what the timeline holds at its position and the video track takes the mouth from it. Each talk
also carries its trace: the monotonic time of each step from its POST to its first audio out.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from .utterance import Utterance

logger = logging.getLogger("engine.player")

SAMPLE_RATE = 48000
AUDIO_PTIME = 0.020
AUDIO_SAMPLES = int(SAMPLE_RATE * AUDIO_PTIME)  # 960
KEEP_PLAYED = SAMPLE_RATE  # keep a second of played audio for late video frames
# A talk's way through the player, timed with time.monotonic() (the clock every process of the
# engine shares): POST received, queued, TTS's first audio, the first video frame that shows
# it, and its first audio frame handed to the RTP sender (aiortc encodes and sends it at once).
TRACE_STEPS = ("received", "queued", "tts_started", "tts_first_audio", "first_frame", "first_audio_out")


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
    # Monotonic time of each step (see TRACE_STEPS); "received" is when the POST arrived.
    trace: dict[str, float] = field(default_factory=dict)
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

    def _earliest(self) -> int:
        """The audio track's next frame boundary: new speech waits for no margin.

        Both tracks read the timeline on the event loop, so speech placed there is played by the
        very next audio frame; at most one video frame, drawn just before, shows the mouth shut
        over the speech's first 20 ms, while it is only beginning to open.
        """
        now = max(self.audio_position, int(self.clock.now() * SAMPLE_RATE))
        return int(math.ceil(now / AUDIO_SAMPLES)) * AUDIO_SAMPLES

    @property
    def silent(self) -> bool:
        """Nothing scheduled is left to play: new speech would start at once."""
        return self.tail <= self._earliest()

    def schedule(self, talk: Talk, utterance: Utterance) -> _Segment:
        """Put an utterance (at SAMPLE_RATE) after everything scheduled, or as soon as possible."""
        start = self.tail if self.tail >= self._earliest() else self._earliest()
        segment = _Segment(talk, start, utterance)
        self._segments.append(segment)
        self.tail = segment.end
        if talk.start is None:
            talk.start = start
            talk.trace.setdefault("tts_first_audio", time.monotonic())
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

    def talk_at(self, media_time: float) -> Talk | None:
        sample = media_time * SAMPLE_RATE
        for segment in self._segments:
            if segment.start <= sample < segment.end:
                return segment.talk
        return None

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
        talk.trace.setdefault("first_audio_out", time.monotonic())
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("talk %s trace (ms after the POST): %s", talk.id, trace_ms(talk))
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


def trace_ms(talk: Talk) -> dict[str, float]:
    """Each traced step of a talk, in milliseconds after its POST was received."""
    origin = talk.trace.get("received", talk.queued_at)
    return {
        step: round((talk.trace[step] - origin) * 1000, 1)
        for step in TRACE_STEPS
        if step in talk.trace
    }
