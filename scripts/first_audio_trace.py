"""Where a talk's time goes, from its POST to its first audio out: the engine's own trace.

Starts the engine's D-ID streams in this process (as tests/engine/test_did_streams.py does),
opens one stream with an aiortc viewer on loopback, POSTs a typical first sentence several
times (each after the previous one is done) and prints p50 and p90 of each traced step
(`GET /streams` → streams[].talks[].ms, engine/timeline.py). A quick look, not a benchmark:
compare runs only under the same machine load.

    PYTHONPATH=. .venv/bin/python scripts/first_audio_trace.py --talks 9

`--beside-llm` runs the engine's LLM in another process, generating without a pause (one
thread, as the LLM child), at the niceness `--llm-nice` gives it: what a talk meets while the
rest of its reply is being written.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext

from engine.did_registry import STREAMS
from engine.timeline import SAMPLE_RATE, TRACE_STEPS
from scripts.engine_viewer import watched_stream

TEXT = "Sure, the capital of France is Paris."


@contextmanager
def busy_llm(nice: int):
    """The LLM generating in its own process until the block ends."""
    env = {**os.environ, "ENGINE_THREADS": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "scripts.llm_busy_loop"], env=env, stdout=subprocess.PIPE,
        preexec_fn=(lambda: os.nice(nice)) if nice else None,
    )
    try:
        assert process.stdout.readline().strip() == b"ready", "the LLM did not load"
        yield
    finally:
        process.kill()
        process.wait()


def record_gaps(player, gaps: list[float]) -> None:
    """Record, per later piece of a talk, the silence (ms) between it and the piece before."""
    schedule = player.timeline.schedule
    ends: dict[str, int] = {}

    def recording(talk, utterance):
        segment = schedule(talk, utterance)
        if talk.id in ends:
            gaps.append((segment.start - ends[talk.id]) * 1000 / SAMPLE_RATE)
        ends[talk.id] = segment.end
        return segment

    player.timeline.schedule = recording


async def measure(talks: int, text: str, resolution: int) -> tuple[list[dict], list[float]]:
    gaps: list[float] = []
    async with watched_stream(resolution) as viewer:
        record_gaps(viewer.runner.app[STREAMS].sessions[viewer.stream["id"]].player, gaps)
        await asyncio.sleep(3)  # the idle loop is built and replayed, as in a conversation
        for _ in range(talks):
            await viewer.talk(text)
            await asyncio.sleep(1.0)
        async with viewer.http.get(f"{viewer.root}/streams") as response:
            listing = await response.json()
    (described,) = listing["streams"]
    return [talk["ms"] for talk in described["talks"]], gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=9)
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--json", action="store_true", help="print every trace as JSON too")
    parser.add_argument("--beside-llm", action="store_true",
                        help="with the engine's LLM generating in another process meanwhile")
    parser.add_argument("--llm-nice", type=int, default=0, help="that process's niceness")
    args = parser.parse_args()
    started = time.monotonic()
    with busy_llm(args.llm_nice) if args.beside_llm else nullcontext():
        traces, gaps = asyncio.run(measure(args.talks, args.text, args.resolution))
    if args.json:
        print(json.dumps(traces))
    beside = f", beside the LLM at nice {args.llm_nice}" if args.beside_llm else ""
    print(f"{len(traces)} talks of {args.text!r}{beside}, load {os.getloadavg()[0]:.2f}, "
          f"{time.monotonic() - started:.0f} s")
    for step in TRACE_STEPS:
        values = [ms[step] for ms in traces if step in ms]
        if values:
            p90 = statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]
            print(f"  {step:16s} p50 {statistics.median(values):6.1f} ms  p90 {p90:6.1f} ms  "
                  f"(min {min(values):.1f}, max {max(values):.1f}, n={len(values)})")
    if gaps:  # a talk said in pieces (its opening clause apart, or several sentences)
        print(f"  silence between a talk's pieces: {sum(g > 0 for g in gaps)} of {len(gaps)} "
              f"joins, longest {max(gaps):.0f} ms")


if __name__ == "__main__":
    main()
