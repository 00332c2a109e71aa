"""What the fake microphone says: Piper speech in WAV files Chromium can play as a microphone.

Chromium reads `--use-file-for-fake-audio-capture=<wav>%noloop` once, from the moment the page
opens the microphone; the leading silence gives the page time to start streaming, the trailing
silence lets the recogniser notice the end of the utterance. The end of speech in the WAV is
known to the sample: `Recording.speech_end` seconds after the microphone opened.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LEADING_SILENCE = 0.6  # seconds before the words
TRAILING_SILENCE = 2.0  # seconds after them
RATE = 48000
LOUD = 300  # 16-bit sample level that counts as speech (about -40 dBFS)
QUIET_ROOM_DBFS = -60.0  # a quiet room's hiss through a laptop microphone
COUGH_SECONDS = 0.15  # the "150 ms noise": shorter than any word
COUGH_DBFS = -15.0  # RMS of the burst: as loud as speech close to the microphone

# Piper's voice is transcribed near-exactly by the engine's whisper.
SPOKEN = {
    "question": "Can you tell me what the surface of the Moon is made of?",
    "barge_in": "Please tell me your name.",  # one phrase: no pause that would split it
}


@dataclass(frozen=True)
class Recording:
    path: Path
    text: str
    speech_start: float  # seconds from the start of the file to the first word
    speech_end: float  # ... and to the end of the last one


def load_speaker():
    """The engine's Piper voice (loading it takes a few seconds: do it once)."""
    # The engine's TTS pulls in onnxruntime: only callers that make speech pay for it.
    from engine.tts import load_speaker as engine_speaker

    return engine_speaker()


def speech(speaker, text: str, rate: int = RATE) -> np.ndarray:
    """`text` spoken by `speaker` as 16-bit mono PCM at `rate`."""
    return speaker.synthesize(text).resampled(rate).pcm.astype(np.int16)


def write_wav(path: Path, pcm: np.ndarray, rate: int = RATE) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.astype(np.int16).tobytes())


def record(path: Path, text: str, speaker, *, leading: float = LEADING_SILENCE,
           trailing: float = TRAILING_SILENCE) -> Recording:
    """One WAV: silence, `text` as the speaker says it, silence."""
    return record_turns(path, [text], speaker, leading=leading, every=0.0,
                        trailing=trailing)[0]


def record_turns(path: Path, texts: list[str], speaker, *, leading: float = LEADING_SILENCE,
                 every: float, trailing: float = TRAILING_SILENCE) -> list[Recording]:
    """One WAV with several utterances, the n-th starting `leading + n * every` seconds in
    (or right after the previous one, if that is later), silence between them: a person
    asking one question after another with the microphone open."""
    parts, at, found = [], 0, []
    for n, text in enumerate(texts):
        words = speech(speaker, text)
        start = max(at, int((leading + n * every) * RATE))
        parts.append(np.zeros(start - at, np.int16))
        parts.append(words)
        loud = np.flatnonzero(np.abs(words) > LOUD)  # Piper pads its speech with some silence
        first, last = (loud[0], loud[-1] + 1) if len(loud) else (0, len(words))
        found.append(Recording(path, text, (start + first) / RATE, (start + last) / RATE))
        at = start + len(words)
    parts.append(np.zeros(int(trailing * RATE), np.int16))
    write_wav(path, np.concatenate(parts))
    return found


def write_spoken(folder: Path, spoken: dict[str, str] = SPOKEN, speaker=None) -> dict[str, Path]:
    """One WAV per entry of `spoken`, named after its key."""
    speaker = speaker or load_speaker()
    return {name: record(folder / f"{name}.wav", text, speaker).path
            for name, text in spoken.items()}


def amplitude(dbfs: float) -> float:
    """The 16-bit RMS level of `dbfs` (0 dBFS: full scale, as streaming/audio.py counts it)."""
    return 32767.0 * 10 ** (dbfs / 20)


def room_noise(seconds: float, dbfs: float = QUIET_ROOM_DBFS, *, seed: int = 0,
               rate: int = RATE) -> np.ndarray:
    """White noise at RMS `dbfs`: the hiss of a room where nobody speaks."""
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, amplitude(dbfs), int(seconds * rate))


def cough(seconds: float = COUGH_SECONDS, dbfs: float = COUGH_DBFS, *, seed: int = 1,
          rate: int = RATE) -> np.ndarray:
    """A cough-like burst: noise with a 10 ms attack and a fast decay, `seconds` long, RMS
    `dbfs` over its length. Noise, not a voice: nothing in it is a word."""
    n = int(seconds * rate)
    t = np.arange(n) / rate
    envelope = np.minimum(1.0, t / 0.01) * np.exp(-t / (seconds / 2))
    # A 1 ms moving average takes off the hiss above ~1 kHz, like a cough's breathy spectrum.
    raw = np.convolve(np.random.default_rng(seed).normal(0.0, 1.0, n), np.ones(48) / 48, "same")
    sound = envelope * raw
    return sound * amplitude(dbfs) / float(np.sqrt(np.mean(sound * sound)))


def record_room(path: Path, *, seconds: float, silent_first: float = 0.0,
                floor_dbfs: float | None = QUIET_ROOM_DBFS,
                sounds: dict[float, np.ndarray] | None = None) -> Path:
    """A WAV with no speech in it: `silent_first` seconds of digital silence (zeros), then a
    room's noise floor at `floor_dbfs` (None: zeros throughout), with each of `sounds` added
    at its offset (seconds from the start of the file)."""
    pcm = np.zeros(int(seconds * RATE))
    start = int(silent_first * RATE)
    if floor_dbfs is not None:
        pcm[start:] = room_noise(seconds - silent_first, floor_dbfs)[: len(pcm) - start]
    for at, sound in (sounds or {}).items():
        first = int(at * RATE)
        pcm[first:first + len(sound)] += sound[: len(pcm) - first]
    write_wav(path, np.clip(np.round(pcm), -32768, 32767))
    return path
