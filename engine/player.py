"""The avatar as two WebRTC tracks, video and audio, playing speech on one clock.

Lip sync comes from scheduling, not from chasing: when an utterance is ready it is placed on a
`Timeline` at a sample position of the 48 kHz media clock. The audio track plays whatever the
timeline holds at its position; the video track asks the timeline which utterance covers its
frame's time and takes the mouth from there. Both tracks pace themselves from the same start
time, so a frame and the sound it belongs to leave together (as in aiortc's own tracks, each
frame is returned when its media time comes).

Synthesis (Piper) and, when it is slow, rendering run in a thread executor so the event loop
stays free for the other sessions of the engine; speech synthesised ahead of its turn runs on
lower-priority threads (speech_ahead.py). A VP8 stream that is not talking sends its
face's pre-encoded idle loop instead of rendering and encoding frames (`replay_idle`,
idle_loop.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import itertools
import logging
import math
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Executor

import numpy as np
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import Packet, VideoFrame
from av.video.frame import PictureType

from . import speech_ahead
from .idle_loop import IdleLoop, IdleLoops, IdleReplay
from .media_claim import MediaClaim
from .opus_packets import OpusPackets
from .renderer import TalkingHeadRenderer
from .stream_rtc import on_keyframe_request
from .timeline import (
    AUDIO_PTIME,
    AUDIO_SAMPLES,
    SAMPLE_RATE,
    MediaClock,
    Talk,
    Timeline,
    trace_ms,
)
from .tts import Speaker
from .utterance import Utterance, utterance_from_audio

logger = logging.getLogger(__name__)

__all__ = ["SAMPLE_RATE", "AvatarPlayer", "Talk"]

VIDEO_CLOCK_RATE = 90000
VIDEO_TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK_RATE)
INLINE_RENDER_BUDGET = 0.005  # seconds: slower frames are rendered in the executor
TRACES_KEPT = 20

EventHandler = Callable[[str, dict], None]


class AvatarVideoTrack(MediaStreamTrack):
    """25 fps frames of the talking head; the mouth follows the timeline.

    With an idle loop (`idle`), frames while nobody talks are the loop's VP8 packets, and the
    first rendered frame after them is a keyframe that continues the loop's head pose.
    """

    kind = "video"

    def __init__(self, player: AvatarPlayer) -> None:
        super().__init__()
        self._player = player
        self._index: int | None = None
        self.idle: IdleReplay | None = None
        self._pose_offset = 0.0  # renderer time minus media time: where the idle loop left off

    def keyframe_requested(self) -> None:
        """The receiver lost a frame; aiortc makes the next rendered frame a keyframe."""
        if self.idle is not None:
            self.idle.restart()

    async def recv(self) -> VideoFrame | Packet:
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
        pts = self._index * (VIDEO_CLOCK_RATE // fps)
        talk = player.timeline.talk_at(t + 0.5 / fps)
        idle = self.idle
        if idle is not None and talk is None and not player.is_speaking:
            return idle.next_packet(pts, VIDEO_TIME_BASE)
        keyframe = idle is not None and idle.playing
        if keyframe:  # a talk begins: the receiver's last picture was the loop's
            self._pose_offset = idle.pose_time() + 1 / fps - t
            idle.stop()
        openness, viseme, spread = player.timeline.mouth_at(t + 0.5 / fps)
        image = await player._render(t + self._pose_offset, openness, viseme, spread)
        if viseme is not None and talk is not None:
            talk.trace.setdefault("first_frame", time.monotonic())
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        if keyframe:
            frame.pict_type = PictureType.I  # aiortc's VP8 encoder passes it on to libvpx
        frame.pts = pts
        frame.time_base = VIDEO_TIME_BASE
        return frame


class AvatarAudioTrack(MediaStreamTrack):
    """20 ms Opus packets of 48 kHz mono: speech from the timeline, else silence (encoded by
    the track itself, engine/opus_packets.py)."""

    kind = "audio"

    def __init__(self, player: AvatarPlayer) -> None:
        super().__init__()
        self._player = player
        self._index: int | None = None
        self.opus = OpusPackets()

    async def recv(self) -> Packet:
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
        return self.opus.packet(samples, self._index * AUDIO_SAMPLES)


_NO_MORE = object()

def _next_sentence(sentences: Iterator[Utterance], trace: dict | None = None) -> Utterance | object:
    """Synthesize the next sentence or chunk, at the tracks' rate (runs in a thread). The first
    call for a talk marks in its `trace` when synthesis began (after any wait for a thread)."""
    if trace is not None:
        trace.setdefault("tts_started", time.monotonic())
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
        idle_loops: IdleLoops | None = None,
        claim: MediaClaim | None = None,
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
        self._idle_loops = idle_loops
        self._claim = claim or MediaClaim()
        self._queue: asyncio.Queue[tuple[Talk, object]] = asyncio.Queue()
        self._talks: list[Talk] = []  # said and not yet done
        self._worker: asyncio.Task | None = None
        self._render_seconds = 1.0  # until measured, render in the executor
        self._ids = itertools.count(1)
        self._stopped = False
        self._traced: deque[Talk] = deque(maxlen=TRACES_KEPT)

    @property
    def is_speaking(self) -> bool:
        """True from a `say_*` call until that talk (and any queued after it) is done."""
        self._talks = [t for t in self._talks if not (t.done_sent or t.cancelled)]
        return bool(self._talks)

    @property
    def replays_idle(self) -> bool:
        """True once idle frames are the face's pre-encoded loop (see `replay_idle`)."""
        return self.video.idle is not None

    async def say_text(
        self, text: str, *, talk_id: str | None = None, received_at: float | None = None
    ) -> str:
        """Queue a text to be spoken; returns the talk id its events will carry."""
        if self.speaker is None:
            raise RuntimeError("this player has no speaker (text-to-speech) to say text with")
        if not text or not text.strip():
            raise ValueError("nothing to say")
        return self._enqueue(Talk(talk_id or self._new_id(), text=text), text, received_at)

    async def say_audio(
        self,
        pcm: np.ndarray,
        sample_rate: int,
        *,
        talk_id: str | None = None,
        received_at: float | None = None,
    ) -> str:
        """Queue recorded speech (mono or multi-channel, int16 or float); the mouth follows it."""
        if sample_rate <= 0:
            raise ValueError("sample_rate must be positive")
        talk = Talk(talk_id or self._new_id())
        return self._enqueue(talk, (np.asarray(pcm), int(sample_rate)), received_at)

    def traces(self) -> list[dict]:
        """The last talks' traces, in ms after their POST (cheap: kept as they happen)."""
        return [{"talk_id": talk.id, "ms": trace_ms(talk)} for talk in self._traced]

    def replay_idle(self, sender: RTCRtpSender | None = None) -> None:
        """While idle, send the face's pre-encoded VP8 idle loop instead of rendering frames.

        Only for a track sent as VP8. The loop is built in the background, once per face (see
        idle_loop.py); until it is ready, idle frames are rendered as before. `sender`'s
        keyframe requests (a receiver that lost a frame) restart the loop at its keyframe.
        """
        if self._idle_loops is None or self._stopped:
            return
        if sender is not None:
            on_keyframe_request(sender, self.video.keyframe_requested)
        self._idle_loops.get(self.renderer, self.fps).add_done_callback(self._idle_loop_built)

    def _idle_loop_built(self, built: asyncio.Future[IdleLoop]) -> None:
        if built.cancelled() or self._stopped:
            return
        if built.exception() is not None:
            logger.warning("no idle loop, idle frames are rendered: %r", built.exception())
            return
        self.video.idle = IdleReplay(built.result())

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

    def _enqueue(self, talk: Talk, source: object, received_at: float | None = None) -> str:
        if self._stopped:
            raise RuntimeError("the player is stopped")
        talk.trace["received"] = talk.queued_at if received_at is None else received_at
        talk.trace["queued"] = talk.queued_at
        self._traced.append(talk)
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
                    # Speech after a pause keeps Piper's opening silence as part of the pause;
                    # speech nothing plays before starts with the voice.
                    sentences = self.speaker.chunks(
                        source, lead_in=not self.timeline.silent, sample_rate=SAMPLE_RATE
                    )
                    while True:
                        # Speech nobody hears yet while nothing plays: someone is waiting for
                        # it, and the LLM process pauses meanwhile (media_claim.py).
                        waited_for = self.timeline.silent
                        with self._claim.held() if waited_for else contextlib.nullcontext():
                            utterance = await loop.run_in_executor(
                                self._synthesis_executor(waited_for),
                                _next_sentence,
                                sentences,
                                talk.trace,
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

    def _synthesis_executor(self, waited_for: bool) -> Executor | None:
        """Where speech is synthesised: speech ahead of its turn on threads that give way to
        the tracks (speech_ahead.py), unless the player was given an executor for all."""
        if self._executor is not None or waited_for:
            return self._executor
        return speech_ahead.executor()

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
