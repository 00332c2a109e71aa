"""The barge-in rule on voice onset, alone: how much voice after the recogniser's speech-start
stops the avatar (the turn state's own tests cover it inside a conversation)."""

from __future__ import annotations

from streaming.barge_in import BARGE_IN_GAP_S, MIN_BARGE_IN_SPEECH_S, Onset, judge_onset


def chunks(*runs: tuple[float, bool], start: float = 0.0, size: float = 0.02):
    """20 ms chunks from `start`: each run is (seconds, voiced)."""
    out, at = [], start
    for seconds, voiced in runs:
        for _ in range(round(seconds / size)):
            out.append((at, size, voiced))
            at += size
    return out


def test_a_long_enough_run_of_voice_after_the_onset_is_speech():
    audio = chunks((MIN_BARGE_IN_SPEECH_S + 0.02, True))
    assert judge_onset(audio, 0.0) is Onset.SPEECH


def test_a_shorter_run_is_undecided_until_more_audio_comes():
    audio = chunks((MIN_BARGE_IN_SPEECH_S - 0.06, True))
    assert judge_onset(audio, 0.0) is Onset.UNDECIDED


def test_a_cough_followed_by_a_gap_is_noise():
    audio = chunks((0.1, True), (BARGE_IN_GAP_S + 0.02, False))
    assert judge_onset(audio, 0.0) is Onset.NOISE


def test_voice_before_the_onset_does_not_count():
    audio = chunks((1.0, True), (0.1, True))
    assert judge_onset(audio, 1.0) is Onset.UNDECIDED


def test_a_short_pause_within_speech_does_not_reset_it():
    audio = chunks((0.1, True), (BARGE_IN_GAP_S - 0.04, False), (0.12, True))
    assert judge_onset(audio, 0.0) is Onset.SPEECH
