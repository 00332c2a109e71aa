"""How long are the silences Silero hears inside an utterance? The case for speculating early.

The engine's recogniser starts transcribing a final `SPECULATE_AFTER_SAMPLES` into a silence
(engine/transcriber.py); every silence inside an utterance that long costs a transcription that
is dropped when the voice resumes. This counts, per clip, the silences between two voiced windows
by their length in 32 ms windows (9 means 9 or more), with the transcriber's thresholds: 8 Piper
questions (two with commas) and moonshine-voice's human `beckett.wav`. A quick look, not a
benchmark.

    PYTHONPATH=. .venv/bin/python scripts/speech_pauses.py
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy.signal import resample_poly

from bench.stt_compare_bench import beckett_clip
from engine.speech_models import SAMPLE_RATE, StreamingVad, load_vad_session
from engine.transcriber import SILENCE_THRESHOLD, SPEECH_THRESHOLD
from launcher.microphone import RATE, load_speaker, speech

QUESTIONS = (
    "What is it like to float in space?",
    "How long did your training take?",
    "What did you eat on the space station?",
    "Can you see the stars from orbit?",
    "What was the hardest part of the mission?",
    "Hello Ada, how are you today?",
    "Well, I think that, maybe, we should go to Mars next year.",
    "Tell me, please, what the Moon is made of.",
)


def pauses(vad_session, audio: np.ndarray) -> Counter:
    """Silences between two voiced windows, by length in windows (capped at 9)."""
    padded = np.concatenate([np.zeros(SAMPLE_RATE // 2), audio, np.zeros(SAMPLE_RATE)])
    found: Counter = Counter()
    in_speech, silent = False, 0
    for p in StreamingVad(vad_session).probabilities(padded.astype(np.float32)):
        if p >= SPEECH_THRESHOLD:
            if in_speech and silent:
                found[min(silent, 9)] += 1
            in_speech, silent = True, 0
        elif p < SILENCE_THRESHOLD and in_speech:
            silent += 1
    return found


def main() -> None:
    vad, speaker = load_vad_session(), load_speaker()
    clips = {name: audio for name, (_, audio) in beckett_clip().items()}
    for text in QUESTIONS:
        clips[text] = resample_poly(speech(speaker, text) / 32768.0, SAMPLE_RATE, RATE)
    for name, audio in clips.items():
        seconds = len(audio) / SAMPLE_RATE
        print(f"{name[:45]:45} {seconds:4.1f} s  pauses by windows: {dict(sorted(pauses(vad, audio).items()))}")


if __name__ == "__main__":
    main()
