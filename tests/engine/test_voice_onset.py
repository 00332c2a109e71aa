"""The rule that tells speech from a cough: engine/voice_onset.py, window by window."""

from __future__ import annotations

import numpy as np

from engine.speech_models import VAD_WINDOW
from engine.voice_onset import EARLY_SAMPLES, SURE_SAMPLES, TAIL_SAMPLES, OnsetJudge

LOUD = np.full(VAD_WINDOW, 0.3, dtype=np.float32)


def run(windows: list[np.ndarray]) -> int | None:
    """The window (1-based) at which the run became speech, if it did."""
    judge = OnsetJudge()
    judge.start()
    for n, samples in enumerate(windows, start=1):
        if judge.window(samples, n * VAD_WINDOW):
            return n
    return None


def ending_early(level: float = 0.3) -> np.ndarray:
    """A window whose sound stops before its last 10 ms."""
    samples = np.full(VAD_WINDOW, level, dtype=np.float32)
    samples[-TAIL_SAMPLES:] = 0.0003  # a quiet room's floor, about -70 dBFS
    return samples


def test_a_voice_still_sounding_is_speech_after_six_windows():
    assert EARLY_SAMPLES == 6 * VAD_WINDOW
    assert run([LOUD] * 10) == 6


def test_a_sound_over_by_the_end_of_the_sixth_window_waits_for_the_seventh():
    # Silero still says voice (its state lags), but the sound has stopped: a cough's tail.
    assert run([LOUD] * 5 + [ending_early()]) is None
    assert run([LOUD] * 5 + [ending_early(), ending_early()]) == SURE_SAMPLES // VAD_WINDOW


def test_still_sounding_is_judged_against_the_loudest_window_of_the_run():
    quieter = np.full(VAD_WINDOW, 0.04, dtype=np.float32)  # 17.5 dB under the loudest
    much_quieter = np.full(VAD_WINDOW, 0.02, dtype=np.float32)  # 23.5 dB under
    assert run([LOUD] * 5 + [quieter]) == 6
    assert run([LOUD] * 5 + [much_quieter] * 2) == 7


def test_a_new_run_forgets_the_last_runs_loudness():
    judge = OnsetJudge()
    judge.start()
    judge.window(np.full(VAD_WINDOW, 0.9, dtype=np.float32), VAD_WINDOW)
    judge.start()
    quiet_voice = np.full(VAD_WINDOW, 0.05, dtype=np.float32)
    results = [judge.window(quiet_voice, n * VAD_WINDOW) for n in range(1, 7)]
    assert results == [False] * 5 + [True]


def test_digital_silence_is_never_still_sounding():
    silent = np.zeros(VAD_WINDOW, dtype=np.float32)
    assert run([silent] * 6) is None


def level(dbfs: float, n: int = VAD_WINDOW) -> np.ndarray:
    return np.full(n, 10 ** (dbfs / 20), dtype=np.float32)


def stream(windows: list[tuple[np.ndarray, bool]]) -> int | None:
    """Windows as the transcriber feeds them, each (samples, voiced by Silero): the voiced
    window (1-based, of Silero's run) at which the run became speech."""
    judge, run = OnsetJudge(), 0
    for samples, voiced in windows:
        judge.hear(samples)
        if not voiced:
            run = 0
            continue
        if run == 0:
            judge.start()
        run += 1
        if judge.window(samples, run * VAD_WINDOW):
            return run
    return None


ROOM = [(level(-60), False)] * 31


def test_the_sound_is_timed_from_where_it_began_before_silero_noticed():
    # Silero calls the voice two windows after it began: six windows of sound is speech.
    assert stream(ROOM + [(level(-20), False)] * 2 + [(level(-20), True)] * 8) == 4
    assert stream(ROOM + [(level(-20), False)] * 1 + [(level(-20), True)] * 8) == 5


def test_no_more_than_two_windows_are_counted_before_silero_and_silero_needs_four():
    assert stream(ROOM + [(level(-20), False)] * 5 + [(level(-20), True)] * 8) == 4


def test_in_a_loud_room_the_sound_is_timed_from_silero():
    loud_room = [(level(-30), False)] * 31
    assert stream(loud_room + [(level(-25), False)] * 2 + [(level(-25), True)] * 8) == 6


def test_a_150_ms_sound_is_not_speech_however_early_it_is_timed():
    # 150 ms of sound (about 4.7 windows), then the room; Silero lags and calls 6 windows voice.
    sound = np.concatenate([level(-20, 2400), level(-60, 6 * VAD_WINDOW - 2400)])
    windows = [sound[i * VAD_WINDOW:(i + 1) * VAD_WINDOW] for i in range(6)]
    for silero_late in (0, 1, 2):
        heard = ROOM + [(w, i >= silero_late) for i, w in enumerate(windows)]
        heard += [(level(-60), False)] * 4
        assert stream(heard) is None, silero_late
