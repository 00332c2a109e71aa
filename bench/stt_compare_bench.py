"""Which recogniser should the engine use: whisper tiny.en or Moonshine tiny, on the same clips.

Writes bench/results/stt_compare.json. For every clip, each model in turn (interleaved, so both
see the same machine at the same moment), single-threaded as in the engine's STT process:

- word error rate of the whole clip transcribed at once (jiwer, after lower-casing and dropping
  punctuation: both models punctuate, Deepgram's `word` does not);
- finalisation latency: the clip streamed in real time (40 ms chunks) through the engine's own
  live session (Silero VAD, 250 ms endpointing, speculative finals), then silence; measured from
  the end of the speech (the last sample above -40 dBFS, as launcher/microphone.py finds it: Piper
  pads its words with silence) to the first final that covers the last word (`first_final`),
  and to the `speech_final` that ends the turn (`speech_final`).

Clips: questions spoken by the engine's Piper voice (launcher/microphone.py), and the human
recording `beckett.wav` that moonshine-voice ships in its wheel.

It refuses to run when the 1-minute load average is above 1.0 (another process would distort the
figures); `--force` runs anyway and labels the result as taken on a busy machine.

Run: `.venv/bin/python -m bench.stt_compare_bench` (about 2 minutes on a quiet 2-core machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# The engine's STT process runs its models on one thread; compare them the same way. Set before
# the engine modules read it.
os.environ.setdefault("ENGINE_THREADS", "1")

from bench.report import LoadMonitor, summarize, write  # noqa: E402
from engine.listen_params import LiveOptions  # noqa: E402
from engine.speech_models import SAMPLE_RATE, STT_MODELS, SpeechRecognizer  # noqa: E402
from engine.transcriber import LiveTranscription  # noqa: E402
from engine.transcript_events import TranscriptResult  # noqa: E402
from launcher.microphone import LOUD, load_speaker, speech  # noqa: E402

NAME = "stt_compare"
MAX_QUIET_LOAD = 1.0
CHUNK = int(0.04 * SAMPLE_RATE)  # what a browser's audio worklet sends, about
TRAILING_SILENCE = 1.0  # seconds streamed after the clip: room for the 250 ms endpoint
# Short questions a user asks an avatar, spoken by Piper: what the product hears most.
QUESTIONS = [
    "How many legs does a spider have?",
    "What is the capital of France?",
    "Can you name three colours of the rainbow?",
    "What is it like to float in space?",
    "How long did your training take?",
    "What did you eat on the space station?",
    "Can you see the stars from orbit?",
    "Who painted the Mona Lisa?",
    "Please tell me your name.",
    "What was the hardest part of the mission?",
    "Why is the sky blue?",
    "Hello Ada, could you tell me about the last project you worked on?",
]
# What beckett.wav says (Samuel Beckett, Worstward Ho, 1983); the clip is in moonshine-voice's
# wheel (https://github.com/moonshine-ai/moonshine, test assets).
BECKETT = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."


# --------------------------------------------------------------------------- clips


def piper_clips(texts: list[str]) -> dict[str, tuple[str, np.ndarray]]:
    speaker = load_speaker()
    return {
        f"piper:{text}": (text, speech(speaker, text, SAMPLE_RATE).astype(np.float32) / 32768.0)
        for text in texts
    }


def beckett_clip() -> dict[str, tuple[str, np.ndarray]]:
    """moonshine-voice's beckett.wav at 16 kHz mono, if that package is installed."""
    try:
        from moonshine_voice.utils import get_assets_path
    except ImportError:
        return {}
    path = get_assets_path() / "beckett.wav"
    if not path.exists():
        return {}
    with wave.open(str(path)) as wav:
        rate, channels = wav.getframerate(), wav.getnchannels()
        pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32)
    audio = pcm.reshape(-1, channels).mean(axis=1) / 32768.0
    if rate != SAMPLE_RATE:
        from scipy.signal import resample_poly  # only for a clip not at 16 kHz

        audio = resample_poly(audio, SAMPLE_RATE, rate).astype(np.float32)
    return {"human:beckett.wav": (BECKETT, audio.astype(np.float32))}


# --------------------------------------------------------------------------- measures


def normalized(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def word_error_rate(reference: str, hypothesis: str) -> float:
    import jiwer  # the bench extra; only this function needs it

    hypothesis = normalized(hypothesis)
    return float(jiwer.wer(normalized(reference), hypothesis)) if hypothesis else 1.0


async def finalisation(recognizer: SpeechRecognizer, audio: np.ndarray) -> dict:
    """Stream `audio` in real time, then silence; seconds from its end to the finals."""
    finals: list[tuple[float, TranscriptResult]] = []
    loud = np.flatnonzero(np.abs(audio) * 32768 > LOUD)
    speech_seconds = (loud[-1] + 1 if len(loud) else len(audio)) / SAMPLE_RATE

    async def record(event) -> None:
        if isinstance(event, TranscriptResult) and event.is_final:
            finals.append((time.perf_counter(), event))

    live = LiveTranscription(
        recognizer,
        LiveOptions(interim_results=True, endpointing_ms=250, vad_events=True),
        record,
    )
    stream = np.concatenate([audio, np.zeros(int(TRAILING_SILENCE * SAMPLE_RATE), np.float32)])
    started = time.perf_counter()
    speech_end = started + speech_seconds
    for offset in range(0, len(stream), CHUNK):
        await live.feed(stream[offset : offset + CHUNK])
        due = started + (offset + CHUNK) / SAMPLE_RATE
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    await asyncio.sleep(0.5)  # a transcription still running when the stream ends
    await live.close()
    worded = [(t, e) for t, e in finals if e.transcript.text]
    covering = [t for t, e in worded if e.start + e.duration >= speech_seconds - 0.1]
    speech_final = [t for t, e in finals if e.speech_final]
    return {
        "first_final": (covering[0] - speech_end) if covering else None,
        "speech_final": (speech_final[0] - speech_end) if speech_final else None,
        "text": " ".join(e.transcript.text for _, e in worded),
    }


async def measure(models: dict[str, SpeechRecognizer], clips: dict) -> dict:
    rows: dict[str, list[dict]] = {name: [] for name in models}
    for clip, (reference, audio) in clips.items():
        for name, recognizer in models.items():
            began = time.perf_counter()
            whole = recognizer.transcribe_sync(audio)
            batch = time.perf_counter() - began
            live = await finalisation(recognizer, audio)
            rows[name].append(
                {
                    "clip": clip,
                    "seconds": round(len(audio) / SAMPLE_RATE, 2),
                    "wer": round(word_error_rate(reference, whole.text), 4),
                    "text": whole.text,
                    "batch_ms": round(batch * 1000, 1),
                    "first_final_ms": _ms(live["first_final"]),
                    "speech_final_ms": _ms(live["speech_final"]),
                    "live_wer": round(word_error_rate(reference, live["text"]), 4),
                }
            )
            print(
                f"{name:>9} {clip[:48]:<48} {rows[name][-1]['wer']:.2f} "
                f"{rows[name][-1]['first_final_ms']} ms",
                flush=True,
            )
    return rows


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def summary_of(rows: dict[str, list[dict]]) -> dict:
    out = {}
    for name, items in rows.items():
        piper = [r for r in items if r["clip"].startswith("piper:")]
        human = [r for r in items if not r["clip"].startswith("piper:")]
        out[name] = {
            "wer_piper_mean": _mean([r["wer"] for r in piper]),
            "wer_human_mean": _mean([r["wer"] for r in human]),
            "live_wer_mean": _mean([r["live_wer"] for r in items]),
            "first_final_ms": summarize([r["first_final_ms"] for r in items], digits=1),
            "speech_final_ms": summarize([r["speech_final_ms"] for r in items], digits=1),
            "batch_ms": summarize([r["batch_ms"] for r in items], digits=1),
        }
    return out


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 4) if values else None


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=0, help="use only the first N clips")
    parser.add_argument("--models", default=",".join(STT_MODELS), help="comma-separated")
    parser.add_argument("--force", action="store_true", help="run on a busy machine (labelled)")
    parser.add_argument("--out", default=NAME, help="results file name (bench/results/<out>.json)")
    args = parser.parse_args(argv)

    load = os.getloadavg()[0]
    if load > MAX_QUIET_LOAD and not args.force:
        print(
            f"refusing: 1-minute load average {load:.2f} > {MAX_QUIET_LOAD} (other work would "
            "distort the figures); wait for a quiet machine or pass --force",
            file=sys.stderr,
        )
        return 2

    clips = {**piper_clips(QUESTIONS), **beckett_clip()}
    if args.clips:
        clips = dict(list(clips.items())[: args.clips])
    models = {}
    for name in args.models.split(","):
        models[name] = SpeechRecognizer.load(name)
        models[name].transcribe_sync(np.zeros(SAMPLE_RATE, np.float32))  # first-call allocations
    with LoadMonitor() as monitor:
        rows = asyncio.run(measure(models, clips))
    for recognizer in models.values():
        recognizer.close()

    per_model = summary_of(rows)
    summary = {}
    for name, figures in per_model.items():
        summary[f"{name} WER (Piper questions)"] = figures["wer_piper_mean"]
        summary[f"{name} WER (human clip)"] = figures["wer_human_mean"]
        summary[f"{name} end of speech -> final p50 ms"] = figures["first_final_ms"].get("p50")
        summary[f"{name} end of speech -> final p90 ms"] = figures["first_final_ms"].get("p90")
    report = {
        "forced_on_busy_machine": load > MAX_QUIET_LOAD,
        "load_at_start": round(load, 2),
        "threads": int(os.environ["ENGINE_THREADS"]),
        "models": {
            n: {
                "name": m.model_name,
                "version": m.model_version,
                "load_seconds": round(m.load_seconds, 2),
            }
            for n, m in models.items()
        },
        "endpointing_ms": 250,
        "clips": len(clips),
        "summary": summary,
        "per_model": per_model,
        "rows": rows,
    }
    if load > MAX_QUIET_LOAD:
        report["warning"] = (
            f"taken with --force at a 1-minute load of {load:.2f}: timings are not representative"
        )
    path = write(args.out, report, load=monitor)
    for name, value in summary.items():
        print(f"{name:<48} {value}")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
