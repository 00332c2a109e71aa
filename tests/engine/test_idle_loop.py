"""Idle avatars cost almost nothing: each face's idle motion is encoded once and replayed.

The track hands aiortc's RTP sender the loop's VP8 packets while nobody talks, a live keyframe
when a talk starts, and the loop's keyframe again when it ends. `Vp8Link` does with them what
aiortc's `RTCRtpSender._next_encoded_frame` does (encode frames, pack packets as they are) and
decodes them as a receiver would.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import itertools

import numpy as np
import pytest
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload
from aiortc.mediastreams import MediaStreamError
from av import CodecContext, Packet, VideoFrame

from engine.idle_loop import IdleLoops, IdleReplay, encode_loop, is_keyframe, loop_times
from engine.player import AvatarPlayer
from engine.renderer import TalkingHeadRenderer

pytestmark = pytest.mark.engine

FPS = 25
SIDE = 128


@pytest.fixture(scope="module")
def renderer(astronaut, astronaut_landmarks):
    return TalkingHeadRenderer(astronaut, astronaut_landmarks, SIDE)


@pytest.fixture(scope="module")
def idle_loop(renderer):
    return encode_loop(lambda t: renderer.frame(t, 0.0), renderer.blink, FPS)


def decoder():
    return CodecContext.create("libvpx", "r")


def decode(codec, data: bytes) -> np.ndarray:
    (frame,) = codec.decode(Packet(data))
    return frame.to_ndarray(format="rgb24")


async def until(condition, within: float) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


def difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


# -- the loop -------------------------------------------------------------------------------------


def test_the_loop_goes_forward_and_back_and_turns_away_from_a_blink(renderer):
    times = loop_times(renderer.blink, FPS)
    turn = times.index(max(times))
    assert times[0] == 0 and 2.6 <= times[turn] <= 4.0
    assert times[1 : turn + 1] == times[turn + 1 :][::-1] + [times[turn]]  # forward, then back
    steps = np.abs(np.diff([*times, times[0]]))
    assert steps.max() == pytest.approx(1 / FPS)  # no jump anywhere, the wrap included
    near_turn = [times[turn] + d / FPS for d in range(-3, 4)]
    assert not any(renderer.blink(t) for t in near_turn)
    assert any(renderer.blink(t) for t in times)  # it does blink


def test_the_loop_starts_with_its_only_keyframe_and_decodes_into_the_idle_face(
    renderer, idle_loop
):
    assert len(idle_loop) == len(loop_times(renderer.blink, FPS))
    keyframes = [i for i, data in enumerate(idle_loop.frames) if is_keyframe(data)]
    assert keyframes == [0]
    codec = decoder()
    decoded = [decode(codec, data) for data in idle_loop.frames]
    for image, t in zip(decoded, idle_loop.times, strict=True):
        assert image.shape == (SIDE, SIDE, 3)
        assert difference(image, renderer.frame(t, 0.0)) < 6.0  # VP8's loss, nothing more
    assert max(difference(decoded[0], image) for image in decoded) > 1.0  # the head moves
    # Played round again, the loop decodes to the very same pictures: the wrap is clean.
    again = [decode(codec, data) for data in idle_loop.frames[:10]]
    assert all(np.array_equal(a, b) for a, b in zip(again, decoded, strict=False))


def test_a_replay_begins_at_the_keyframe_and_goes_back_to_it_when_a_frame_was_lost(idle_loop):
    replay, base = IdleReplay(idle_loop), fractions.Fraction(1, 90000)
    sent = [replay.next_packet(pts=i * 3600, time_base=base) for i in range(5)]
    assert is_keyframe(bytes(sent[0])) and [p.pts for p in sent] == [0, 3600, 7200, 10800, 14400]
    assert replay.pose_time() == idle_loop.times[4]
    replay.restart()
    assert bytes(replay.next_packet(pts=18000, time_base=base)) == idle_loop.frames[0]
    replay.stop()
    assert not replay.playing
    assert bytes(replay.next_packet(pts=21600, time_base=base)) == idle_loop.frames[0]


async def test_streams_of_one_face_share_one_loop(astronaut, astronaut_landmarks, renderer):
    loops = IdleLoops()
    twin = TalkingHeadRenderer(astronaut, astronaut_landmarks, SIDE)
    other = TalkingHeadRenderer(astronaut, astronaut_landmarks, SIDE, seed=1)
    first, second, third = (loops.get(r, FPS) for r in (renderer, twin, other))
    assert first is second and third is not first
    mine, theirs = await asyncio.gather(first, third)
    assert len(mine) > 2 * FPS and mine.frames != theirs.frames


# -- a player that replays it ------------------------------------------------------------------


class CountingRenderer:
    """The renderer, remembering every frame it was asked to draw."""

    def __init__(self, renderer: TalkingHeadRenderer) -> None:
        self._renderer = renderer
        self.drawn: list[tuple[float, float]] = []  # (t, mouth openness)

    def __getattr__(self, name):
        return getattr(self._renderer, name)

    def frame(self, t, mouth_open=0.0, viseme=None, spread=None):
        self.drawn.append((t, mouth_open))
        return self._renderer.frame(t, mouth_open, viseme, spread)


class Vp8Link:
    """aiortc's sender and a receiver in one: what reaches the receiver, and what it decodes."""

    def __init__(self) -> None:
        self.encoder = Vp8Encoder()
        self.codec = decoder()
        self.sent: list[tuple[str, bytes, np.ndarray]] = []  # (kind of item, VP8 frame, picture)

    def send(self, item: VideoFrame | Packet) -> None:
        if isinstance(item, VideoFrame):  # as rtcrtpsender.py: encode frames, pack packets
            payloads, _ = self.encoder.encode(item, False)
        else:
            payloads, _ = self.encoder.pack(item)
        data = b"".join(vp8_depayload(p) for p in payloads)
        kind = "frame" if isinstance(item, VideoFrame) else "packet"
        self.sent.append((kind, data, decode(self.codec, data)))


async def test_an_idle_player_replays_the_loop_and_each_talk_switches_to_a_live_keyframe(
    renderer, speaker
):
    counting = CountingRenderer(renderer)
    player = AvatarPlayer(counting, speaker, fps=FPS, idle_loops=IdleLoops())
    player.replay_idle()
    await until(lambda: player.video.idle is not None, 30)
    counting.drawn.clear()  # the loop's own frames
    link, done = Vp8Link(), asyncio.Event()
    player.on_event = lambda name, payload: name == "stream/done" and done.set()

    async def pull(track, send) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                send(await track.recv())

    pullers = [asyncio.create_task(pull(player.video, link.send)),
               asyncio.create_task(pull(player.audio, lambda frame: None))]
    try:
        await asyncio.sleep(1.0)
        assert len(link.sent) >= 20 and {kind for kind, _, _ in link.sent} == {"packet"}
        assert counting.drawn == []  # nothing rendered while idle
        assert difference(link.sent[0][2], renderer.frame(0.0, 0.0)) < 6.0
        for text in ("Hello there, how are you today?", "Fine, thanks."):
            done.clear()
            await player.say_text(text)
            await asyncio.wait_for(done.wait(), 20)
            await asyncio.sleep(0.6)
    finally:
        player.stop()
        await asyncio.gather(*pullers, return_exceptions=True)

    runs, start = [], 0  # (kind, first, end) of each run of packets or frames
    for kind, items in itertools.groupby(kind for kind, _, _ in link.sent):
        runs.append((kind, start, start + len(list(items))))
        start = runs[-1][2]
    assert [kind for kind, _, _ in runs] == ["packet", "frame", "packet", "frame", "packet"]
    loop = player.video.idle.loop
    for kind, first, end in runs:
        keyframes = [i for i in range(first, end) if is_keyframe(link.sent[i][1])]
        # Every switch lands on a keyframe: the receiver's reference picture changes there.
        assert keyframes[0] == first
        assert keyframes == ([first] if kind == "frame" else list(range(first, end, len(loop))))

    live = [i for kind, first, end in runs if kind == "frame" for i in range(first, end)]
    assert len(counting.drawn) == len(live)  # each live frame rendered once, nothing else
    # The live frames show the mouth the renderer was asked for, open while speaking.
    x0, y0, x1, y1 = renderer.face_regions()["mouth"]
    opened = [
        difference(link.sent[i][2][y0:y1, x0:x1], renderer.frame(t, 0.0)[y0:y1, x0:x1])
        for i, (t, openness) in zip(live, counting.drawn, strict=True)
        if openness > 0.3
    ]
    assert len(opened) > 5 and max(opened) > 5.0
    # A talk's first frame continues the head pose where the loop left it.
    for (_, idle_first, _), (_, first, _) in zip(runs[0::2], runs[1::2], strict=False):
        t, _ = counting.drawn[live.index(first)]
        assert t == pytest.approx(loop.times[(first - 1 - idle_first) % len(loop)] + 1 / FPS)
