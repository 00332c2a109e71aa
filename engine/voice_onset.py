"""When a sound the VAD calls voice has lasted long enough to be speech, not a cough or a knock.

The rule is that speech lasts longer than 150 ms. Silero cannot tell that alone any sooner than 7
windows (224 ms) into the voice: its state lags, so a 150 ms sound keeps it above threshold for up
to 6 windows. But the sound itself can tell one window sooner. Silero never marks a window as voice
before a sound begins, so its first voiced window starts less than a window (32 ms) before the
sound does, and the last 10 ms of the 6th window begin more than 150 ms after the sound began. A
150 ms sound is over by then: those 10 ms hold only the room. So at the 6th window the voice counts
as speech if it is still sounding, loud against the loudest window so far; from the 7th Silero's
word is enough. Every window sooner is 32 ms sooner for barge-in (the avatar stops on
`SpeechStarted`) and for the first interim. Measured with `scripts/voice_onset_probe.py` (24
Piper phrases, each at 8 offsets within Silero's window): 158 of 192 became speech at the 6th
window and the rest at the 7th; none of their first 150 ms did, nor any of 40 coughs of 150 ms.

Pure: the transcriber (engine/transcriber.py) feeds it each window of a voiced run.
"""

from __future__ import annotations

import numpy as np

from .speech_models import SAMPLE_RATE, VAD_WINDOW

SURE_SAMPLES = 7 * VAD_WINDOW  # Silero voiced this long: speech, whatever the sound does
EARLY_SAMPLES = 6 * VAD_WINDOW  # this long, and still sounding at the end: speech
TAIL_SAMPLES = SAMPLE_RATE // 100  # the last 10 ms of a window: "still sounding" is judged on them
# "Still sounding": the tail within 20 dB of the run's loudest window. A cough or a knock ending
# drops 40 dB or more to a quiet room's floor; a voice stays within 20 dB except in a stop's
# closure, and then the 7th window decides.
STILL_SOUNDING = 0.1


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0


class OnsetJudge:
    """One voiced run, window by window: `window()` says when it has become speech."""

    def __init__(self) -> None:
        self.loudest = 0.0

    def start(self) -> None:
        """A new run of voice begins."""
        self.loudest = 0.0

    def window(self, samples: np.ndarray, voiced_for: int) -> bool:
        """`samples`: the window just judged voiced; `voiced_for`: samples from the run's first
        window to the end of this one. True once the run is speech."""
        self.loudest = max(self.loudest, rms(samples))
        if voiced_for >= SURE_SAMPLES:
            return True
        if voiced_for < EARLY_SAMPLES:
            return False
        return rms(samples[-TAIL_SAMPLES:]) >= STILL_SOUNDING * self.loudest > 0.0
