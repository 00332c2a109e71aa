"""The idle avatar, rendered and VP8-encoded once per face, replayed on every idle stream.

An idle frame depends on the face and the time only (blinks, sway, breathing; the mouth shut),
never on the stream, yet rendering and encoding it costs each stream as much as talking does.
So each face's idle motion is rendered and encoded once, as a loop of VP8 frames that starts
with a keyframe, and every idle stream of that face sends those frames as they are: aiortc's
`RTCRtpSender` packetizes an `av.Packet` without encoding it, with the stream's own RTP
timestamps and picture ids. Streams switch to live rendering and encoding when a talk starts
(the first live frame is forced to a keyframe) and back to the loop's keyframe when it ends.

The motion is the face's one idle loop (idle_motion.py), which its idle WebM shows too.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass

import numpy as np
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from av import Packet, VideoFrame

from .idle_motion import at_rest, loop_times

log = logging.getLogger(__name__)

PREROLL_FRAMES = 25  # encoded before the loop so its keyframe gets a settled rate control
LOOPS_KEPT = 8  # faces whose loop is kept by one media process


def is_keyframe(data: bytes) -> bool:
    """Whether a VP8 frame is a keyframe (RFC 6386 §9.1: bit 0 of the frame tag is 0)."""
    return bool(data) and not data[0] & 1


@dataclass(frozen=True)
class IdleLoop:
    """One face's idle motion as VP8 frames: the first is the keyframe the last leads back to."""

    fps: int
    frames: tuple[bytes, ...]
    times: tuple[float, ...]  # the renderer time each frame shows

    def __len__(self) -> int:
        return len(self.frames)


def encode_loop(render: Callable[[float], np.ndarray], blink: Callable[[float], float],
                fps: int) -> IdleLoop:
    """Render the loop with `render(t) -> RGB array` and encode it with aiortc's own VP8
    settings (so a replayed frame looks like a live one). Blocking: run it in a thread."""
    times = loop_times(blink, fps)
    encoder = Vp8Encoder()
    frames: list[bytes] = []
    preroll = times[-PREROLL_FRAMES:]
    for i, t in enumerate([*preroll, *times]):
        frame = VideoFrame.from_ndarray(render(t), format="rgb24")
        frame.pts, frame.time_base = i, fractions.Fraction(1, fps)
        keyframe = i == len(preroll)
        payloads, _ = encoder.encode(frame, force_keyframe=keyframe)
        data = b"".join(vp8_depayload(p) for p in payloads)
        if i >= len(preroll):
            frames.append(data)
    if not is_keyframe(frames[0]):
        raise RuntimeError("the encoder did not start the idle loop with a keyframe")
    return IdleLoop(fps, tuple(frames), tuple(times))


class IdleReplay:
    """One stream's place in its face's idle loop: hands out the loop's frames in order.

    Replay always begins at the loop's keyframe, so a receiver can decode it whatever it
    showed before (a live frame, or nothing yet).
    """

    def __init__(self, loop: IdleLoop) -> None:
        self.loop = loop
        self._position: int | None = None

    @property
    def playing(self) -> bool:
        return self._position is not None

    def pose_time(self) -> float:
        """The renderer time of the frame last sent (0 before any)."""
        if self._position is None:
            return 0.0
        return self.loop.times[(self._position - 1) % len(self.loop)]

    def next_packet(self, pts: int, time_base: fractions.Fraction) -> Packet:
        position = self._position or 0
        packet = Packet(self.loop.frames[position])
        packet.pts, packet.time_base = pts, time_base
        self._position = (position + 1) % len(self.loop)
        return packet

    def stop(self) -> None:
        """Live frames go out now: the next replay starts over from the keyframe."""
        self._position = None

    def restart(self) -> None:
        """The receiver lost a frame (it asked for a keyframe): go back to the loop's keyframe."""
        if self._position is not None:
            self._position = 0


class IdleLoops:
    """Each face's idle loop, built once (in the executor) and shared by all its streams."""

    def __init__(self, *, executor: Executor | None = None, kept: int = LOOPS_KEPT) -> None:
        self._executor = executor
        self._kept = kept
        self._loops: OrderedDict[str, asyncio.Future[IdleLoop]] = OrderedDict()

    def get(self, renderer, fps: int) -> asyncio.Future[IdleLoop]:
        """The loop of this renderer's face; building it if no stream of the face has yet."""
        key = f"{renderer.fingerprint}/{fps}"
        future = self._loops.get(key)
        if future is None or (future.done() and future.exception() is not None):
            future = asyncio.ensure_future(self._build(renderer, fps))
            self._loops[key] = future
            while len(self._loops) > self._kept:
                self._loops.popitem(last=False)
        self._loops.move_to_end(key)
        return future

    async def _build(self, renderer, fps: int) -> IdleLoop:
        started = time.perf_counter()
        loop = await asyncio.get_running_loop().run_in_executor(
            self._executor, encode_loop, at_rest(renderer), renderer.blink, fps
        )
        log.info("idle loop of %d frames (%d kB) built in %.2f s", len(loop),
                 sum(map(len, loop.frames)) // 1024, time.perf_counter() - started)
        return loop
