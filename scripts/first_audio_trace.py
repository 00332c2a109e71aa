"""Where a talk's time goes, from its POST to its first audio out: the engine's own trace.

Starts the engine's D-ID streams in this process (as tests/engine/test_did_streams.py does),
opens one stream with an aiortc viewer on loopback, POSTs a typical first sentence several
times (each after the previous one is done) and prints the median of each traced step
(`GET /streams` → streams[].talks[].ms, engine/timeline.py). A quick look, not a benchmark:
compare runs only under the same machine load.

    PYTHONPATH=. .venv/bin/python scripts/first_audio_trace.py --talks 9
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time

from engine.did_registry import STREAMS
from engine.timeline import SAMPLE_RATE, TRACE_STEPS
from scripts.engine_viewer import watched_stream

TEXT = "Sure, the capital of France is Paris."


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
    args = parser.parse_args()
    started = time.monotonic()
    traces, gaps = asyncio.run(measure(args.talks, args.text, args.resolution))
    if args.json:
        print(json.dumps(traces))
    print(f"{len(traces)} talks of {args.text!r}, load {os.getloadavg()[0]:.2f}, "
          f"{time.monotonic() - started:.0f} s")
    for step in TRACE_STEPS:
        values = [ms[step] for ms in traces if step in ms]
        if values:
            print(f"  {step:16s} median {statistics.median(values):6.1f} ms  "
                  f"(min {min(values):.1f}, max {max(values):.1f}, n={len(values)})")
    if gaps:  # a talk said in pieces (its opening clause apart, or several sentences)
        print(f"  silence between a talk's pieces: {sum(g > 0 for g in gaps)} of {len(gaps)} "
              f"joins, longest {max(gaps):.0f} ms")


if __name__ == "__main__":
    main()
