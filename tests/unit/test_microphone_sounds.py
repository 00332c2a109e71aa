"""The fake microphone's speechless WAVs (launcher/microphone.py): a quiet room stays below what
the consumer counts as voice, and the cough is loud but short, so the browser tests of barge-in
(tests/e2e/test_barge_in_echo.py) test what they say they test."""

from __future__ import annotations

import wave

import numpy as np

from launcher.microphone import (
    COUGH_SECONDS,
    RATE,
    amplitude,
    cough,
    record_room,
    room_noise,
)
from streaming.audio import VOICED_RMS


def rms(pcm: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(pcm, dtype=np.float64) ** 2)))


def dbfs(pcm: np.ndarray) -> float:
    return 20 * np.log10(rms(pcm) / 32767)


def read(path) -> np.ndarray:
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, RATE)
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")


def test_a_quiet_room_is_at_minus_60_dbfs_far_below_voice():
    hiss = room_noise(2.0)
    assert abs(dbfs(hiss) - -60) < 0.5
    assert rms(hiss) < VOICED_RMS / 5


def test_the_cough_lasts_150_ms_and_is_as_loud_as_speech():
    burst = cough()
    assert len(burst) == int(COUGH_SECONDS * RATE)
    assert rms(burst) > 10 * VOICED_RMS  # loud: only its length may keep it from barging in
    # Most of its energy is in its first 100 ms (sharp attack, fast decay), none after 150 ms.
    energy = np.cumsum(burst.astype(np.float64) ** 2)
    assert energy[int(0.1 * RATE)] / energy[-1] > 0.8


def test_a_room_recording_is_zeros_then_hiss_with_the_cough_where_asked(tmp_path):
    path = record_room(tmp_path / "room.wav", seconds=3.0, silent_first=1.0,
                       sounds={2.0: cough()})
    pcm = read(path)
    assert len(pcm) == 3 * RATE
    assert not pcm[: RATE].any()  # digital silence first
    assert abs(dbfs(pcm[RATE: 2 * RATE]) - -60) < 1
    loud = np.flatnonzero(np.abs(pcm) > 10 * amplitude(-60))
    assert loud[0] / RATE >= 2.0 and (loud[-1] - loud[0]) / RATE <= COUGH_SECONDS


def test_a_room_recording_without_a_floor_is_all_zeros(tmp_path):
    assert not read(record_room(tmp_path / "zeros.wav", seconds=1.0, floor_dbfs=None)).any()
