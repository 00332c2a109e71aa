"""Where the engine's media memory goes: one stream, many talks, RSS and Python heap per talk.

Starts the engine's D-ID streams in this process (as scripts/first_audio_trace.py does), opens
one stream with an aiortc viewer on loopback, lets it idle, then POSTs talks one after another.
After the idle phase and after each talk it prints the process's RSS and the Python heap
(tracemalloc); at the end, the allocation sites that grew most since the first talk. RSS that
grows while the traced heap stays flat points at native memory (codecs, ONNX, allocator).
A diagnosis tool, not a benchmark.

    PYTHONPATH=. .venv/bin/python scripts/media_memory_probe.py --talks 40 --idle 60
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import tracemalloc

from bench.soak_bench import rss_mb
from engine import memory_trim
from scripts.engine_viewer import watched_stream

TEXTS = [
    "Sure, the capital of France is Paris, a city on the Seine.",
    "A spider has eight legs, and most spiders have eight eyes as well.",
    "Water boils at one hundred degrees Celsius at sea level.",
]


def heap_mb() -> float:
    return tracemalloc.get_traced_memory()[0] / 2**20


def sample(label: str) -> None:
    gc.collect()
    print(f"{label:>12s}  rss {rss_mb(os.getpid()):7.1f} MB  python heap {heap_mb():6.1f} MB",
          flush=True)


async def probe(talks: int, idle: float, resolution: int, top: int, trim: bool,
                texts: list[str] | None) -> None:
    first = None
    async with watched_stream(resolution) as viewer:
        sample("ready")
        await asyncio.sleep(idle)
        sample(f"idle {idle:.0f}s")
        for n in range(talks):
            await viewer.talk(texts[n] if texts else TEXTS[n % len(TEXTS)])
            await asyncio.sleep(0.5)
            if trim:
                memory_trim.trim()
            sample(f"talk {n + 1}")
            if first is None and tracemalloc.is_tracing():
                gc.collect()
                first = tracemalloc.take_snapshot()
        await asyncio.sleep(idle)
        sample(f"idle {idle:.0f}s")
    gc.collect()
    if first is not None:
        last = tracemalloc.take_snapshot()
        print(f"\nlargest growth since the first talk (top {top}, by traceback):")
        for stat in last.compare_to(first, "traceback")[:top]:
            print(f"  {stat.size_diff / 1024:9.1f} KiB  {stat.count_diff:+6d} blocks")
            for line in stat.traceback.format()[-8:]:
                print(f"      {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--talks", type=int, default=40)
    parser.add_argument("--idle", type=float, default=30.0)
    parser.add_argument("--resolution", type=int, default=512)
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--trim", action="store_true", help="malloc_trim(0) after each talk")
    parser.add_argument("--growing", action="store_true",
                        help="each talk one sentence longer than the one before")
    parser.add_argument("--no-onnx-arena", action="store_true",
                        help="ONNX Runtime sessions without their CPU memory arena")
    parser.add_argument("--no-trace", action="store_true",
                        help="RSS only: tracemalloc slows the talks several times over")
    args = parser.parse_args()
    if not args.no_trace:
        tracemalloc.start(12)
    if args.no_onnx_arena:
        import onnxruntime

        original = onnxruntime.SessionOptions

        def options():
            opts = original()
            opts.enable_cpu_mem_arena = False
            return opts

        onnxruntime.SessionOptions = options
    texts = None
    if args.growing:
        texts = [" ".join([TEXTS[0].rstrip(".") + " and more."] * (n + 1)) for n in range(args.talks)]
    asyncio.run(probe(args.talks, args.idle, args.resolution, args.top, args.trim, texts))


if __name__ == "__main__":
    main()
