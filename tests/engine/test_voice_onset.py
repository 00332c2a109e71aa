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
