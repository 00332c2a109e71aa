"""What the fake microphone says: Piper speech in WAV files Chromium can play as a microphone.

Chromium reads `--use-file-for-fake-audio-capture=<wav>%noloop` once, from the moment the page
opens the microphone; the leading silence gives the page time to start streaming, the trailing
silence lets the recogniser notice the end of the utterance.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

LEADING_SILENCE = 0.6  # seconds before the words
TRAILING_SILENCE = 2.0  # seconds after them
RATE = 48000

# Piper's voice is transcribed near-exactly by the engine's whisper.
SPOKEN = {
    "question": "Can you tell me what the surface of the Moon is made of?",
    "barge_in": "Please tell me your name.",  # one phrase: no pause that would split it
}


def write_spoken(folder: Path, speaker=None) -> dict[str, Path]:
    """One 16-bit mono WAV per entry of SPOKEN, spoken by the local Piper voice."""
    if speaker is None:
        from streaming.engine.tts import load_speaker

        speaker = load_speaker()
    paths = {}
    for name, text in SPOKEN.items():
        words = speaker.synthesize(text).resampled(RATE).pcm.astype(np.int16)
        before, after = (np.zeros(int(s * RATE), np.int16) for s in (LEADING_SILENCE, TRAILING_SILENCE))
        paths[name] = folder / f"{name}.wav"
        with wave.open(str(paths[name]), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(RATE)
            out.writeframes(np.concatenate([before, words, after]).tobytes())
    return paths
