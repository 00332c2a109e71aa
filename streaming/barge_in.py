"""The barge-in rule on voice onset: is what the recogniser called speech long enough to stop
the avatar, or was it a cough?

The recogniser reports where speech started in the session's audio (often after the fact); the
audio chunks the consumer forwarded (how long, voiced or not) say what followed. Pure: the turn
state (streaming/turns.py) keeps the recent chunks and asks `judge_onset` after each one.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum

# Barge-in on voice onset needs this much voiced audio after the recogniser's speech-start:
# a cough or a 150 ms knock is shorter, and 200 ms still leaves room to stop the avatar within
# 300 ms of the onset.
MIN_BARGE_IN_SPEECH_S = 0.2
# A gap this long after the onset means the noise ended: the onset no longer counts.
BARGE_IN_GAP_S = 0.12
# Audio kept to judge an onset the recogniser reports after the fact (its timestamp is in the past).
AUDIO_HISTORY_S = 2.0

Chunk = tuple[float, float, bool]  # (start, seconds, voiced), in seconds of the session's audio


class Onset(Enum):
    UNDECIDED = "undecided"  # not enough audio after the onset yet
    SPEECH = "speech"  # a long enough run of voice: the user talks over the avatar
    NOISE = "noise"  # the voice stopped too soon: it does not count


def judge_onset(audio: Iterable[Chunk], onset: float) -> Onset:
    """Voiced audio since `onset`; a long enough run is the user talking over the avatar."""
    voiced = gap = 0.0
    for start, seconds, is_voiced in audio:
        if start + seconds <= onset:
            continue
        if is_voiced:
            voiced += seconds
            gap = 0.0
        else:
            gap += seconds
            if gap >= BARGE_IN_GAP_S:
                voiced = 0.0  # the noise ended; only a new run of voice counts
    if gap >= BARGE_IN_GAP_S:
        return Onset.NOISE
    if voiced >= MIN_BARGE_IN_SPEECH_S:
        return Onset.SPEECH
    return Onset.UNDECIDED
