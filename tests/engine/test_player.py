"""The avatar's media tracks: one clock for sound and picture, and lips that move with the voice."""

from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError

from engine.media_claim import MediaClaim
from engine.player import AvatarPlayer
from engine.renderer import TalkingHeadRenderer

from .opus_receiver import OpusReceiver

pytestmark = pytest.mark.engine

FPS = 25


@pytest.fixture(scope="module")
def renderer(astronaut, astronaut_landmarks):
    return TalkingHeadRenderer(astronaut, astronaut_landmarks, 128)


class Viewer:
    """Pulls both tracks the way an RTP sender does, and keeps what it got and what was said."""

    def __init__(self, player: AvatarPlayer) -> None:
        self.player = player
        self.video: list = []
        self.audio: list = []
        self.events: list[tuple[float, str, dict]] = []
        self._changed = asyncio.Event()
        player.on_event = self._on_event
        self._tasks = [
            asyncio.create_task(self._pull(player.video, self.video)),
            asyncio.create_task(self._pull(player.audio, self.audio, OpusReceiver().decode)),
        ]

    async def _pull(self, track, into: list, decode=None) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                item = await track.recv()
                into.append(decode(item) if decode else item)
                self._changed.set()

    def _on_event(self, name: str, payload: dict) -> None:
        self.events.append((time.monotonic(), name, payload))
        self._changed.set()

    def said(self, name: str) -> int:
        return sum(1 for _, said, _ in self.events if said == name)

    async def until(self, condition) -> None:
        async with asyncio.timeout(15):
            while not condition():
                self._changed.clear()
                await self._changed.wait()

    async def close(self) -> None:
        self.player.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def sound(self) -> np.ndarray:
        """Everything the audio track sent, placed at its media time (48 kHz samples)."""
        first = self.audio[0].pts
        out = np.zeros(self.audio[-1].pts + 960 - first, np.float32)
        for frame in self.audio:
            out[frame.pts - first : frame.pts - first + 960] = frame.to_ndarray().ravel() / 32768
        return out, first


@pytest.fixture
async def viewer(renderer, speaker):
    player = AvatarPlayer(renderer, speaker, fps=FPS)
    await player.warm_up(0.2)
    viewer = Viewer(player)
    yield viewer
    await viewer.close()


def mouth_activity(renderer, frame) -> float:
    """How far the mouth in a video frame is from the same moment with the mouth shut."""
    t = frame.pts / 90000
    x0, y0, x1, y1 = renderer.face_regions()["mouth"]
    shut = renderer.frame(t, 0.0)[y0:y1, x0:x1].astype(np.float32)
    seen = frame.to_ndarray(format="rgb24")[y0:y1, x0:x1].astype(np.float32)
    return float(np.abs(seen - shut).mean())


async def test_silence_is_idle_video_and_silent_audio_on_one_clock(viewer):
    started = time.monotonic()
    await viewer.until(lambda: len(viewer.audio) >= 50)
    elapsed = time.monotonic() - started
    assert 0.8 < elapsed < 1.6  # paced in real time, not as fast as possible

    video, audio = list(viewer.video), list(viewer.audio)
    assert all(b.pts - a.pts == 3600 for a, b in zip(video, video[1:], strict=False))
    assert all(b.pts - a.pts == 960 for a, b in zip(audio, audio[1:], strict=False))
    assert video[0].time_base.denominator == 90000 and audio[0].time_base.denominator == 48000
    for frame in audio:
        assert frame.samples == 960 and frame.sample_rate == 48000
        assert frame.format.name == "s16" and frame.layout.name == "mono"
        assert not frame.to_ndarray().any()
    # One clock: the newest frames of both tracks are at the same media time.
    assert abs(video[-1].pts / 90000 - audio[-1].pts / 48000) <= 0.06
    assert abs(video[0].pts / 90000 - audio[0].pts / 48000) <= 0.06
    assert video[0].to_ndarray(format="rgb24").shape == (128, 128, 3)
    assert not viewer.player.is_speaking


async def test_a_talk_reports_started_when_its_sound_begins_and_done_when_it_ends(viewer):
    talk_id = await viewer.player.say_text("Good morning. It is nice to see you.")
    assert viewer.player.is_speaking
    await viewer.until(lambda: viewer.said("stream/done"))

    (t_start, first, started), (t_done, second, done) = viewer.events
    assert (first, second) == ("stream/started", "stream/done")
    assert started["talk_id"] == done["talk_id"] == talk_id
    assert started["latency"] < 1.0
    assert done["interrupted"] is False
    assert done["duration"] == pytest.approx(t_done - t_start, abs=0.15)
    assert 1.5 < done["duration"] < 5.0
    assert not viewer.player.is_speaking

    sound, first_sample = viewer.sound()
    assert np.abs(sound).max() > 0.3  # the voice was actually sent


async def test_the_mouth_moves_with_the_voice_within_a_frame(viewer, renderer):
    # Some idle frames first: the speech starts within a frame or two of the say now, and the
    # shut-mouth check below needs quiet frames on both sides of it.
    await viewer.until(lambda: len(viewer.video) >= 10)
    await viewer.player.say_text("Hello there, how are you doing on this lovely afternoon?")
    await viewer.until(lambda: viewer.said("stream/done"))
    await asyncio.sleep(0.2)

    sound, first_sample = viewer.sound()
    frames = [f for f in viewer.video if f.pts / 90000 * 48000 >= first_sample + 1920]
    activity = np.array([mouth_activity(renderer, f) for f in frames])
    loudness = []
    for frame in frames:
        start = int(frame.pts / 90000 * 48000) - first_sample
        window = sound[start : start + 1920]
        loudness.append(np.sqrt(np.mean(window**2)) if len(window) else 0.0)
    loudness = np.array(loudness)

    assert activity.max() > 5.0 and (activity > 0).sum() > 25
    quiet_around = np.array(
        [loudness[max(0, i - 3) : i + 4].max() < 1e-4 for i in range(len(loudness))]
    )
    assert quiet_around.sum() > 10
    # Shut when there is no sound nearby (a trace of motion is tolerated: under CPU load a frame
    # can carry the tail of the previous mouth position).
    assert activity[quiet_around].max() < 1.0, activity[quiet_around]

    def correlation(lag: int) -> float:
        a, b = (
            (activity[lag:], loudness[: len(loudness) - lag])
            if lag >= 0
            else (
                activity[:lag],
                loudness[-lag:],
            )
        )
        return float(np.corrcoef(a, b)[0, 1])

    by_lag = {lag: correlation(lag) for lag in range(-4, 5)}
    best = max(by_lag, key=by_lag.get)
    assert abs(best) <= 1, by_lag
    assert by_lag[best] > 0.5, by_lag


async def test_interrupt_silences_the_avatar_within_a_frame(viewer, renderer):
    await viewer.player.say_text(
        "This is a long answer that goes on and on. It has several sentences in it. "
        "Nobody should have to listen to all of it."
    )
    await viewer.player.say_text("And this talk is queued behind it.")
    await viewer.until(lambda: viewer.said("stream/started"))
    await asyncio.sleep(0.6)
    last_audio_pts = viewer.audio[-1].pts
    last_video_pts = viewer.video[-1].pts
    viewer.player.interrupt()
    assert not viewer.player.is_speaking
    await asyncio.sleep(0.5)

    after = [f for f in viewer.audio if f.pts > last_audio_pts]
    assert len(after) >= 20
    # At most one frame was under way; the next carries Opus's 6.5 ms lookahead and its decay.
    loudness = [int(np.abs(f.to_ndarray().astype(np.int32)).max()) for f in after]
    assert max(loudness[2:]) < 64, loudness[:6]
    assert not any(f.to_ndarray().any() for f in after[6:])  # then true silence
    video_after = [f for f in viewer.video if f.pts > last_video_pts]
    assert all(mouth_activity(renderer, f) == 0 for f in video_after[1:])

    names = [(name, payload.get("interrupted")) for _, name, payload in viewer.events]
    assert names == [("stream/started", None), ("stream/done", True)]  # the queued one never starts


async def test_talks_play_one_after_another_in_the_order_they_were_said(viewer):
    first = await viewer.player.say_text("First things first.")
    second = await viewer.player.say_text("Second comes next.")
    await viewer.until(lambda: viewer.said("stream/done") == 2)
    order = [(name, payload["talk_id"]) for _, name, payload in viewer.events]
    assert order == [
        ("stream/started", first),
        ("stream/done", first),
        ("stream/started", second),
        ("stream/done", second),
    ]


async def test_a_recording_is_played_with_a_moving_mouth(viewer, renderer):
    rate = 16000
    t = np.arange(rate) / rate
    voice = 0.5 * np.sin(2 * np.pi * 200 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)) ** 2
    await viewer.player.say_audio((voice * 32767).astype(np.int16), rate)
    await viewer.until(lambda: viewer.said("stream/done"))

    done = viewer.events[-1][2]
    assert done["duration"] == pytest.approx(1.0, abs=0.03)
    sound, _ = viewer.sound()
    assert np.abs(sound).max() > 0.3
    assert max(mouth_activity(renderer, f) for f in viewer.video) > 5.0


async def test_an_opening_clause_plays_first_and_the_rest_follows_it_without_a_gap(viewer):
    placed = []
    schedule = viewer.player.timeline.schedule

    def recording(talk, utterance):
        segment = schedule(talk, utterance)
        placed.append((segment.start, segment.end, utterance.text))
        return segment

    viewer.player.timeline.schedule = recording
    await viewer.player.say_text("Sure, the capital of France is Paris.")
    await viewer.until(lambda: viewer.said("stream/done"))

    # The clause, then the rest in chunks (tts.py `Speaker.chunks`), each placed where the one
    # before ends: it was ready before the one before had been played.
    assert placed[0][2] == "Sure," and len(placed) >= 3
    assert [start for start, _, _ in placed[1:]] == [end for _, end, _ in placed[:-1]]
    done = viewer.events[-1][2]
    assert done["duration"] == pytest.approx((placed[-1][1] - placed[0][0]) / 48000, abs=0.001)


async def test_a_talk_is_traced_from_its_post_to_its_first_audio_out(viewer):
    received = time.monotonic() - 0.010  # the POST reached the engine 10 ms before the say
    talk_id = await viewer.player.say_text("Tracing this.", received_at=received)
    await viewer.until(lambda: viewer.said("stream/done") == 1)
    (trace,) = viewer.player.traces()
    assert trace["talk_id"] == talk_id
    ms = trace["ms"]
    assert list(ms) == [
        "received", "queued", "tts_started", "tts_first_audio", "first_frame", "first_audio_out"
    ]
    assert ms["received"] == 0
    steps = [ms["queued"], ms["tts_started"], ms["tts_first_audio"], ms["first_audio_out"]]
    assert steps == sorted(steps) and ms["queued"] >= 10
    assert ms["first_frame"] >= ms["tts_first_audio"]


class CountingClaim(MediaClaim):
    """A claim on the CPU that counts how often it was held (and shares nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.held_for: list[bool] = []

    @contextlib.contextmanager
    def held(self, seconds: float = 1.0):
        self.held_for.append(True)
        yield


async def test_only_speech_nobody_hears_yet_is_synthesised_under_a_claim_on_the_cpu(
    renderer, speaker
):
    """The first piece is awaited by the listener (the LLM process pauses for it); the next ones
    are made while it plays and leave the CPU to the rest of the reply."""
    claim = CountingClaim()
    player = AvatarPlayer(renderer, speaker, fps=FPS, claim=claim)
    await player.warm_up(0.2)
    viewer = Viewer(player)
    try:
        await player.say_text("Sure, the capital of France is Paris. Yes.")
        await viewer.until(lambda: viewer.said("stream/done") == 1)
    finally:
        await viewer.close()
    assert len(claim.held_for) == 1



async def speak_watched(renderer, speaker, texts: list[str], watch) -> None:
    """Say `texts` with a copy of `speaker` whose `chunks(text, **options)` calls go through
    `watch(chunks, text, options)` (after the player's warm-up), until all are done."""
    from engine.tts import Speaker

    own = Speaker(speaker.voice, split=speaker.split)
    chunks, warmed_up = own.chunks, False

    def watched(text, **options):
        return watch(chunks, text, options) if warmed_up else chunks(text, **options)

    own.chunks = watched
    player = AvatarPlayer(renderer, own, fps=FPS)
    await player.warm_up(0.2)
    warmed_up = True
    viewer = Viewer(player)
    try:
        for text in texts:
            await player.say_text(text)
        await viewer.until(lambda: viewer.said("stream/done") == len(texts))
    finally:
        await viewer.close()


async def test_a_talk_nothing_plays_before_starts_with_its_voice_and_a_queued_one_keeps_its_pause(
    renderer, speaker
):
    """Piper's opening silence is cut where nothing plays before the talk (tts.py
    `_without_lead_in`); a talk queued behind another keeps it as part of the pause."""
    asked: list[bool] = []

    def watch(chunks, text, options):
        asked.append(options.get("lead_in", True))
        return chunks(text, **options)

    await speak_watched(
        renderer, speaker, ["The capital of France is Paris.", "It lies on the Seine."], watch
    )
    assert asked == [False, True]


async def test_speech_ahead_of_its_turn_is_synthesised_on_threads_that_give_way(renderer, speaker):
    """The first chunk, which the listener waits for, on the normal executor; the chunks after
    it, decoded while it plays, on lower-priority threads (speech_ahead.py)."""
    import os
    import threading

    from engine import speech_ahead

    made_on: list[tuple[str, int]] = []

    def watch(chunks, text, options):
        for chunk in chunks(text, **options):
            thread = threading.current_thread()
            made_on.append((thread.name, os.getpriority(os.PRIO_PROCESS, thread.native_id)))
            yield chunk

    await speak_watched(
        renderer, speaker, ["The capital of France is Paris, a city on the river Seine."], watch
    )
    base = os.getpriority(os.PRIO_PROCESS, 0)
    (first, first_nice), *later = made_on
    assert len(later) >= 2
    assert not first.startswith("speech-ahead") and first_nice == base
    assert all(name.startswith("speech-ahead") for name, _ in later)
    assert all(nice == min(19, base + speech_ahead.NICE) for _, nice in later)
