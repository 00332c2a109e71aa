"""When does the engine's recogniser call a sound speech? Real Silero on Piper words and coughs.

For each of 24 short Piper phrases, streamed after half a second of silence at 8 offsets within
Silero's 32 ms window (0, 4, ... 28 ms): how long after the voice began the whole phrase became
speech (engine/voice_onset.py; to the end of the deciding window, in ms rounded to 10), and
whether its first 150 ms alone ever did. Then 150 ms coughs
(launcher.microphone.cough) over a quiet room at the same offsets. What the rule in
engine/voice_onset.py rests on; a quick look, not a benchmark.

    PYTHONPATH=. .venv/bin/python scripts/voice_onset_probe.py
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from scipy.signal import resample_poly

from engine.speech_models import SAMPLE_RATE, VAD_WINDOW, StreamingVad, load_vad_session
from engine.transcriber import SILENCE_THRESHOLD, SPEECH_THRESHOLD
from engine.voice_onset import OnsetJudge
from launcher.microphone import RATE, cough, load_speaker, room_noise, speech

PHRASES = (
    "No.", "Wait.", "Stop.", "Hello.", "Please tell me your name.", "Yes.", "Hold on.",
    "Excuse me.", "Sorry.", "Okay.", "How many legs does a spider have?", "Tell me more.",
    "Why?", "Really?", "Thanks.", "Go on.", "Hey.", "Actually, no.", "Listen.",
    "Can you repeat that?", "I think so.", "Name three colours.", "Where do you live?",
    "What is it like to float in space?",
)
OFFSETS_MS = range(0, 32, 4)


def at_16k(samples: np.ndarray) -> np.ndarray:
    return resample_poly(samples / 32768.0, SAMPLE_RATE, RATE).astype(np.float32)


def speech_at_window(vad_session, audio: np.ndarray) -> int | None:
    """The window of the stream at whose end the audio became speech, as the transcriber
    decides it (thresholds and rule of engine/transcriber.py and engine/voice_onset.py)."""
    probabilities = StreamingVad(vad_session).probabilities(audio)
    judge, run_start = OnsetJudge(), None
    for i, p in enumerate(probabilities):
        judge.hear(audio[i * VAD_WINDOW : (i + 1) * VAD_WINDOW])
        if p >= SPEECH_THRESHOLD:
            if run_start is None:
                run_start = i
                judge.start()
            window = audio[i * VAD_WINDOW : (i + 1) * VAD_WINDOW]
            if judge.window(window, (i + 1 - run_start) * VAD_WINDOW):
                return i + 1
        elif p < SILENCE_THRESHOLD:
            run_start = None
    return None


def main() -> None:
    vad, speaker = load_vad_session(), load_speaker()
    phrases, blips = Counter(), Counter()
    for text in PHRASES:
        voice = at_16k(speech(speaker, text))
        onset = int(np.argmax(np.abs(voice) > 0.02))
        for offset in OFFSETS_MS:
            lead = np.zeros(SAMPLE_RATE // 2 + offset * SAMPLE_RATE // 1000, np.float32)
            tail = np.zeros(SAMPLE_RATE, np.float32)
            whole = np.concatenate([lead, voice[onset:], tail])
            blip = np.concatenate([lead, voice[onset : onset + int(0.15 * SAMPLE_RATE)], tail])
            at = speech_at_window(vad, whole)
            # ms from where the voice began to the end of the window that made it speech
            phrases[None if at is None else round((at * VAD_WINDOW - len(lead)) / 16, -1)] += 1
            blips[speech_at_window(vad, blip)] += 1
    coughs = Counter()
    for offset in OFFSETS_MS:
        for seed in range(1, 6):
            room = room_noise(2.5, seed=seed)
            at = RATE // 2 + offset * RATE // 1000
            burst = cough(seed=seed)
            room[at : at + len(burst)] += burst
            coughs[speech_at_window(vad, at_16k(room))] += 1
    print("whole phrases, speech after ms:", dict(sorted(phrases.items(), key=str)))
    print("their first 150 ms, speech at window:", dict(blips))
    print("150 ms coughs in a quiet room, speech at window:", dict(coughs))


if __name__ == "__main__":
    main()
