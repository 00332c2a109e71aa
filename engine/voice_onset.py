"""When a sound the VAD calls voice has lasted long enough to be speech, not a cough or a knock.

The rule is that speech lasts longer than 150 ms. Silero cannot tell that alone any sooner than 7
windows (224 ms) into the voice: its state lags, so a 150 ms sound keeps it above threshold for up
to 6 windows. But the sound itself can tell one window sooner. Silero never marks a window as voice
before a sound begins, so its first voiced window starts less than a window (32 ms) before the
sound does, and the last 10 ms of the 6th window begin more than 150 ms after the sound began. A
150 ms sound is over by then: those 10 ms hold only the room. So at the 6th window the voice counts
as speech if it is still sounding, loud against the loudest window so far; from the 7th Silero's
word is enough. Every window sooner is 32 ms sooner for barge-in (the avatar stops on
`SpeechStarted`) and for the first interim.

Silero also marks a voice's first window a window or two late (its state needs a moment), so
the sound is timed from where it began: up to 2 windows before Silero's first, as long as each
was already 20 dB above the room (the quietest window of the last second). The argument above
holds, since the earliest such window still holds the sound. Silero must still call at least 4
windows voice. And the timestamp `SpeechStarted` reports moves back to where the sound began.

Measured with `scripts/voice_onset_probe.py` (24 Piper phrases, each at 8 offsets within Silero's
window): a phrase becomes speech 180 ms after its voice began at the median (160-200 ms for 159
of 192), against 220 ms when the sound is timed from Silero's first window; none of
their first 150 ms did, nor any of 40 coughs of 150 ms over a quiet room.

Pure: the transcriber (engine/transcriber.py) hears every window, then judges each of a voiced run.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from .speech_models import SAMPLE_RATE, VAD_WINDOW

SURE_SAMPLES = 7 * VAD_WINDOW  # Silero voiced this long: speech, whatever the sound does
EARLY_SAMPLES = 6 * VAD_WINDOW  # the sound this long, and still sounding at the end: speech
MIN_VOICED_SAMPLES = 4 * VAD_WINDOW  # ... of which Silero called this much voice
MAX_LEAD_WINDOWS = 2  # the sound counted from at most this many windows before Silero's first
TAIL_SAMPLES = SAMPLE_RATE // 100  # the last 10 ms of a window: "still sounding" is judged on them
# "Still sounding": the tail within 20 dB of the run's loudest window. A cough or a knock ending
# drops 40 dB or more to a quiet room's floor; a voice stays within 20 dB except in a stop's
# closure, and then the 7th window decides.
STILL_SOUNDING = 0.1
ROOM_WINDOWS = 31  # about a second: the room's level is the quietest window heard in it
ABOVE_ROOM = 10.0  # 20 dB: a window this far above the room holds a sound, not the room
MIN_SOUND = 10 ** (-50 / 20)  # and at least -50 dBFS


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if len(samples) else 0.0


class OnsetJudge:
    """The windows heard, and one voiced run judged window by window: `window()` says when it
    has become speech. Call `hear()` for every window first, then `start()` and `window()`
    for the voiced ones."""

    def __init__(self) -> None:
        self.loudest = 0.0
        self.lead = 0  # windows of the sound before Silero's first voiced one
        self._levels: deque[float] = deque(maxlen=ROOM_WINDOWS + 1)

    def hear(self, samples: np.ndarray) -> None:
        """A window of the stream, voiced or not (before judging it)."""
        self._levels.append(rms(samples))

    def start(self) -> None:
        """A new run of voice begins at the window heard last."""
        self.loudest = 0.0
        before = list(self._levels)[:-1]
        self.lead = 0
        if len(before) > MAX_LEAD_WINDOWS:
            level = max(ABOVE_ROOM * min(before), MIN_SOUND)
            for value in reversed(before[-MAX_LEAD_WINDOWS:]):
                if value < level:
                    break
                self.lead += 1
                self.loudest = max(self.loudest, value)

    def window(self, samples: np.ndarray, voiced_for: int) -> bool:
        """`samples`: the window just judged voiced; `voiced_for`: samples from the run's first
        voiced window to the end of this one. True once the run is speech."""
        self.loudest = max(self.loudest, rms(samples))
        if voiced_for >= SURE_SAMPLES:
            return True
        sounding_for = voiced_for + self.lead * VAD_WINDOW
        if voiced_for < MIN_VOICED_SAMPLES or sounding_for < EARLY_SAMPLES:
            return False
        return rms(samples[-TAIL_SAMPLES:]) >= STILL_SOUNDING * self.loudest > 0.0
