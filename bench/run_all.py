"""`make bench`: run every benchmark in turn, each in a process of its own, and print the figures.

    .venv/bin/python -m bench.run_all                 # everything (≈ 30-35 min on 2 cores)
    .venv/bin/python -m bench.run_all --only signaling --only av_sync
    .venv/bin/python -m bench.run_all --quick         # small workloads: a smoke run of the lot
    .venv/bin/python -m bench.run_all --list

Each benchmark starts what it needs on loopback, runs a bounded workload, stops by itself and
writes bench/results/<name>.json (and <name>.png); a benchmark that fails or runs past its time
limit is reported and the rest still run. bench/results/summary.json keeps this run's table.
Timing goals are never asserted: the numbers are reported, with the machine's load beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field

from .report import QUIET_LOAD, RESULTS_DIR, machine

BASE_DIR = RESULTS_DIR.parent.parent


@dataclass(frozen=True)
class Benchmark:
    name: str  # also the results file: bench/results/<name>.json
    module: str
    what: str
    time_limit: float  # seconds
    args: list[str] = field(default_factory=list)
    quick_args: list[str] = field(default_factory=list)
    # Run only when asked for by name (`--only`): too long for every `make bench`.
    on_request: bool = False


BENCHMARKS = [
    Benchmark("renderer", "bench.renderer_bench", "renderer ms/frame at 256/512/720 px", 180,
              quick_args=["--frames", "50"]),
    Benchmark("engine_models", "bench.engine_models_bench",
              "engine models: STT real-time factor and endpointing, LLM first token", 360),
    Benchmark("stt_compare", "bench.stt_compare_bench",
              "speech recognisers: whisper tiny.en vs Moonshine tiny (WER, finalisation)", 300,
              quick_args=["--clips", "3"]),
    Benchmark("answer_quality", "bench.answer_quality_bench",
              "engine LLM answers: % right, first token, tokens/s per setup", 2400,
              quick_args=["--quick", "--candidates", "current,engine_default"]),
    Benchmark("cloud_overhead", "bench.cloud_overhead_bench",
              "our overhead on the cloud path (instant vendor stub)", 420,
              quick_args=["--turns", "20", "--warmup", "3"]),
    Benchmark("signaling", "bench.signaling_bench", "signaling relay through daphne", 240,
              quick_args=["--repeats", "50", "--sessions", "5"]),
    Benchmark("ws_capacity", "bench.ws_capacity_bench",
              "simultaneous live-session WebSockets per daphne process", 600,
              quick_args=["--levels", "10,50", "--seconds", "3"]),
    Benchmark("engine_capacity", "bench.engine_capacity_bench",
              "simultaneous local-engine streams at ≥ 24 fps; CPU per idle/talking stream", 600,
              quick_args=["--max-streams", "2", "--seconds", "4"]),
    Benchmark("av_sync", "bench.av_sync_bench", "local engine A/V offset from the decoded stream",
              240, quick_args=["--talks", "2"]),
    Benchmark("browser_turns", "bench.browser_turn_bench",
              "turn latency by hop in Chromium on the whole local product", 1200,
              quick_args=["--spoken", "2", "--typed", "2", "--per-browser", "2"]),
    Benchmark("barge_in", "bench.barge_in_bench",
              "barge-in in Chromium: speech onset → avatar stopped / idle on the page", 900,
              quick_args=["--barge-ins", "2"]),
    Benchmark("soak", "bench.soak_bench",
              "one conversation held 30 min in Chromium, a turn a minute (fps, drops, RSS)", 2100,
              quick_args=["--minutes", "2", "--every", "30"], on_request=True),
    Benchmark("turn_latency", "bench.turn_latency_bench",
              "turn latency by hop on the whole local product", 780,
              quick_args=["--turns", "3", "--per-conversation", "3"]),
]


SETTLE_SECONDS = 150  # the load average decays with a 1-minute time constant


def settle() -> None:
    """Wait (bounded) for the previous benchmark's load to decay, so the next one starts on a
    quiet machine rather than refusing or measuring the last one's tail."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while os.getloadavg()[0] > QUIET_LOAD and time.monotonic() < deadline:
        time.sleep(5)


def run(benchmark: Benchmark, *, quick: bool) -> dict:
    args = benchmark.quick_args if quick else benchmark.args
    settle()
    print(f"\n=== {benchmark.name}: {benchmark.what} ===", flush=True)
    results_file = RESULTS_DIR / f"{benchmark.name}.json"
    before = results_file.stat().st_mtime if results_file.exists() else None
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        completed = subprocess.run(
            [sys.executable, "-m", benchmark.module, *args], cwd=BASE_DIR,
            timeout=benchmark.time_limit, env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
        )
        status = "ok" if completed.returncode == 0 else f"failed (exit {completed.returncode})"
    except subprocess.TimeoutExpired:
        status = f"stopped after its {benchmark.time_limit:.0f} s limit"
    seconds = time.monotonic() - started
    fresh = results_file.exists() and results_file.stat().st_mtime != before
    summary = {}
    if fresh:
        summary = json.loads(results_file.read_text()).get("summary", {})
    elif status == "ok":
        status = "ok, but wrote no results"
    return {"name": benchmark.name, "status": status, "seconds": round(seconds, 1),
            "load_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "summary": summary, "args": args}


def print_table(rows: list[dict]) -> None:
    print("\n" + "=" * 96)
    print(f"{'benchmark':<16} {'figure':<58} {'value':>10}  {'':>8}")
    print("-" * 96)
    for row in rows:
        head = f"{row['name']:<16}"
        if not row["summary"]:
            print(f"{head} {row['status']:<58} {'':>10}  {row['seconds']:>6.0f} s")
            continue
        for i, (figure, value) in enumerate(row["summary"].items()):
            shown = "-" if value is None else (f"{value:.4g}" if isinstance(value, float) else value)
            tail = f"{row['seconds']:>6.0f} s" if i == 0 else ""
            print(f"{head if i == 0 else '':<16} {figure[:58]:<58} {shown!s:>10}  {tail:>8}")
        if row["status"] != "ok":
            print(f"{'':<16} ({row['status']})")
    print("-" * 96)
    loads = [r["load_1min"] for r in rows]
    print(f"1-minute load average before/after each benchmark: "
          f"{', '.join(f'{a:.1f}/{b:.1f}' for a, b in loads)} on {os.cpu_count()} cores")
    print(f"results: {RESULTS_DIR}/<benchmark>.json and .png; README: bench/README.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[],
                        help="run only this benchmark (repeat, or comma-separate)")
    parser.add_argument("--quick", action="store_true", help="small workloads (a smoke run)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.list:
        for b in BENCHMARKS:
            asked = ", only with --only" if b.on_request else ""
            print(f"{b.name:<16} {b.what} (limit {b.time_limit:.0f} s{asked})")
        return 0
    wanted = {name for value in args.only for name in value.split(",") if name}
    unknown = wanted - {b.name for b in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; see --list")
    chosen = [b for b in BENCHMARKS if b.name in wanted or (not wanted and not b.on_request)]

    started = time.monotonic()
    rows = [run(b, quick=args.quick) for b in chosen]
    print_table(rows)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    # Keep the rows of benchmarks not run this time (`--only`), each with its own date.
    path = RESULTS_DIR / "summary.json"
    previous = json.loads(path.read_text()).get("benchmarks", []) if path.exists() else []
    when = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    fresh = {r["name"]: {**r, "when": when, "quick": args.quick} for r in rows}
    merged = [fresh.pop(r["name"], r) for r in previous] + list(fresh.values())
    order = [b.name for b in BENCHMARKS]
    merged.sort(key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
    path.write_text(json.dumps({
        "when": when, "machine": machine(),
        "total_seconds_of_last_run": round(time.monotonic() - started, 1),
        "benchmarks": merged,
    }, indent=2) + "\n")
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
