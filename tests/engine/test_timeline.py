"""The timeline both tracks read: where new speech is placed on the media clock."""

from __future__ import annotations

import numpy as np
import pytest

from engine.timeline import AUDIO_SAMPLES, SAMPLE_RATE, Talk, Timeline
from engine.utterance import Utterance

pytestmark = pytest.mark.engine


class StoppedClock:
    """A media clock that stays where the test puts it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def now(self) -> float:
        return self.seconds


def speech(seconds: float) -> Utterance:
    pcm = np.full(int(seconds * SAMPLE_RATE), 1000, np.int16)
    return Utterance(pcm, SAMPLE_RATE, np.full(int(seconds * 25), 0.5, np.float32))


def test_new_speech_plays_from_the_audio_tracks_very_next_frame():
    events: list[tuple[str, dict]] = []
    clock = StoppedClock(10.005)  # 5 ms into the audio frame at 10 s
    timeline = Timeline(clock, lambda name, payload: events.append((name, payload)))
    frame = int(10 * SAMPLE_RATE)
    timeline.begin_audio(frame)
    assert not timeline.pull_audio(frame).any()  # silence: nobody talks yet

    talk = Talk("tlk_1")
    timeline.schedule(talk, speech(0.5))
    assert talk.start == frame + AUDIO_SAMPLES  # no safety margin after it

    assert timeline.pull_audio(frame + AUDIO_SAMPLES).all()
    assert [name for name, _ in events] == ["stream/started"]


def test_speech_said_while_the_audio_track_lags_starts_at_the_clocks_next_frame():
    clock = StoppedClock(10.030)  # the track still has the frame at 10 s to send
    timeline = Timeline(clock, lambda *_: None)
    frame = int(10 * SAMPLE_RATE)
    timeline.begin_audio(frame)
    talk = Talk("tlk_1")
    timeline.schedule(talk, speech(0.5))
    assert talk.start == frame + 2 * AUDIO_SAMPLES  # 10.040 s


def test_the_rest_of_a_talk_follows_its_first_piece_without_a_gap():
    timeline = Timeline(StoppedClock(1.0), lambda *_: None)
    timeline.begin_audio(SAMPLE_RATE)
    talk = Talk("tlk_1")
    first = timeline.schedule(talk, speech(0.3))
    rest = timeline.schedule(talk, speech(1.0))  # synthesised while the first piece plays
    assert rest.start == first.end
