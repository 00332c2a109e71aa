"""Local-engine streams, talking and idle, at ≥ 24 decoded fps, and the CPU each one costs.

    .venv/bin/python -m bench.engine_capacity_bench [--mixes 0+1,1+0,1+3,2+0] [--max-streams 8]
                                                    [--seconds 10]

Starts the engine (`manage.py run_engine` through the launcher, ENGINE_MODULES="": D-ID streams
only) on a free loopback port. Each level is a mix of T talking and I idle Talks streams at
512 px (VP8): a separate receiver process opens them, answers each with an aiortc peer (loopback
candidates), makes the talking ones talk continuously (a long text, spoken sentence by sentence
through Piper), waits until every idle stream replays its face's pre-encoded idle loop and every
talking one has started speaking, then 2 s more, and counts the video frames each peer decodes
during `--seconds`. The media process's CPU is sampled from /proc meanwhile (and with no stream
at all, first, as the baseline).

First the mixes (`--mixes`, default: the issue's 1 talking + 3 idle and 2 talking, and one
stream of each kind alone to price it), then a ramp of talking streams only, N = 1, 2, 3, ...
up to `--max-streams` (0: none), stopping after the first N whose slowest stream falls below
24 fps. **CPU per idle / talking stream** is the media process's CPU above the baseline with
one such stream alone, and, for the mixes, the share of the idle streams above the talking
ones. The receivers decode on the same 2 cores as the engine (a browser would not), so their
CPU use is reported per level too.

Writes bench/results/engine_capacity.json and engine_capacity.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path

from avatars.demo import astronaut_png
from launcher import Stack
from launcher.stack import BASE_DIR

from .harness import ENGINE_ALONE, CpuSampler, bench_stack
from .report import LoadMonitor, chart_path, pyplot, summarize, write

NAME = "engine_capacity"
TARGET_FPS = 24.0
WARM_UP = 2.0
SPEECH = (
    "Space flight is a team sport, and every launch depends on thousands of people. "
    "Before a mission we trained for months, rehearsing every step until it felt routine. "
    "The view of the Earth from orbit is hard to describe: the atmosphere is a thin blue line, "
    "and the cities at night look like glowing spider webs. Floating takes a few days to get "
    "used to, and you learn to anchor your feet before you turn a single screw. "
    "Coming home, gravity feels heavy, and even a pencil seems to weigh a ton for a while. "
    "If you ever get the chance to watch a launch in person, take it; the sound arrives late "
    "and shakes your whole body."
)


# -- the receiver process --------------------------------------------------------------------------


async def idle_streams_replaying(engine_url: str) -> set[str]:
    """The ids of the engine's streams whose idle frames are the pre-encoded loop."""
    import httpx

    async with httpx.AsyncClient(base_url=engine_url, timeout=10) as client:
        response = await client.get("/streams",
                                    headers={"Authorization": "Basic local-engine-key"})
        return {s["id"] for s in response.json()["streams"] if s.get("idle_replay")}


async def receive(engine_url: str, talking: int, idle: int, seconds: float) -> dict:
    from .live_client import until
    from .receiver import EngineStream, install_sender_report_capture

    install_sender_report_capture()
    streams = [EngineStream(engine_url) for _ in range(talking + idle)]
    opened = time.monotonic()
    for stream in streams:  # one by one, as users arrive; each opening builds a renderer
        await stream.open("/media/astronaut.png")
    open_seconds = time.monotonic() - opened
    replaying: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the first stream of a face builds its idle loop
        replaying = await idle_streams_replaying(engine_url)
        if all(s.id in replaying for s in streams):
            break
        await asyncio.sleep(0.5)
    talkers = streams[:talking]
    for stream in talkers:
        await stream.say(SPEECH)
    # Measure the steady state: every talking stream has started speaking, then a little more.
    await until(lambda: all(any(name == "stream/started" for name, _, _ in s.events)
                            for s in talkers), within=60, every=0.1)
    await asyncio.sleep(WARM_UP)
    cpu_before, start = time.process_time(), time.time()
    await asyncio.sleep(seconds)
    end, cpu = time.time(), time.process_time() - cpu_before
    rows = []
    for i, stream in enumerate(streams):
        frames = [f for f in stream.video if start <= f.arrival < end]
        audio = [f for f in stream.audio if start <= f.arrival < end]
        gaps = [b.arrival - a.arrival for a, b in zip(frames, frames[1:], strict=False)]
        speaking = any(name == "stream/started" for name, _, _ in stream.events) and not any(
            name == "stream/done" and at < end for name, _, at in stream.events
        )
        rows.append({
            "role": "talking" if i < talking else "idle",
            "fps": round(len(frames) / (end - start), 2),
            "audio_frames_per_s": round(len(audio) / (end - start), 1),
            "longest_gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
            "talking_whole_window": speaking,
            "idle_replay": stream.id in replaying,
            "open_seconds": round(stream.timings["first_video"], 2),
        })
    for stream in streams:
        await stream.close()
    return {"window": [start, end], "streams": rows, "open_all_seconds": round(open_seconds, 2),
            "load_1min": round(os.getloadavg()[0], 2),
            "receiver_cpu_percent": round(100 * cpu / (end - start), 1)}


def receiver_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(receive(spec["engine_url"], spec["talking"], spec["idle"],
                                 spec["seconds"]))
    Path(spec["out"]).write_text(json.dumps(result))


# -- the benchmark -------------------------------------------------------------------------------


async def wait_for_no_streams(engine_url: str, within: float = 30) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=engine_url) as client:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if (await client.get("/health")).json().get("streams") == 0:
                return
            await asyncio.sleep(0.3)


async def media_pid(engine_url: str) -> int:
    """The engine's media process (the parent only proxies; /proc counts a live child apart)."""
    import httpx

    async with httpx.AsyncClient(base_url=engine_url) as client:
        return (await client.get("/health")).json()["processes"]["media"]["pid"]


def parse_mix(text: str) -> tuple[int, int]:
    talking, _, idle = text.partition("+")
    return int(talking), int(idle or 0)


async def run_level(stack: Stack, engine_url: str, cpu: CpuSampler, talking: int, idle: int,
                    seconds: float) -> dict:
    name = f"{talking}+{idle}"
    spec = stack.tmp / f"receiver-{name}.json"
    out = stack.tmp / f"receiver-{name}.out.json"
    spec.write_text(json.dumps({"engine_url": engine_url, "talking": talking, "idle": idle,
                                "seconds": seconds, "out": str(out)}))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.engine_capacity_bench", "--receive", str(spec),
        cwd=BASE_DIR, env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
    )
    try:
        n = talking + idle
        await asyncio.wait_for(child.wait(), timeout=seconds + WARM_UP + 30 * n + 120)
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    if child.returncode != 0 or not out.exists():
        raise RuntimeError(f"the receiver process failed ({child.returncode})")
    found = json.loads(out.read_text())
    await wait_for_no_streams(engine_url)
    fps = [s["fps"] for s in found["streams"]]
    start, end = found["window"]
    by_role = {role: [s["fps"] for s in found["streams"] if s["role"] == role]
               for role in ("talking", "idle")}
    return {
        "mix": name, "talking": talking, "idle": idle, "streams": talking + idle,
        "fps_min": min(fps), "fps_mean": round(statistics.fmean(fps), 2),
        "fps_min_talking": min(by_role["talking"], default=None),
        "fps_min_idle": min(by_role["idle"], default=None),
        "per_stream": found["streams"],
        "media_cpu_percent": cpu.percent(start, end).get("media"),
        "engine_parent_cpu_percent": cpu.percent(start, end).get("engine"),
        "receiver_cpu_percent": found["receiver_cpu_percent"],
        "open_all_seconds": found["open_all_seconds"],
        "load_1min_at_end": found["load_1min"],
        "holds": min(fps) >= TARGET_FPS and all(
            s["talking_whole_window"] for s in found["streams"] if s["role"] == "talking"),
    }


def failed_level(talking: int, idle: int, exc: Exception) -> dict:
    return {"mix": f"{talking}+{idle}", "talking": talking, "idle": idle,
            "streams": talking + idle, "holds": False, "fps_min": 0.0, "fps_mean": 0.0,
            "media_cpu_percent": None, "receiver_cpu_percent": None,
            "failed": f"{type(exc).__name__}: {exc}"[:300]}


def stream_costs(baseline: float | None, mixes: list[dict]) -> dict:
    """CPU % of a core per idle and per talking stream, from the mixes that were measured."""
    cpu = {(r["talking"], r["idle"]): r.get("media_cpu_percent") for r in mixes}

    def above(a, b, n):
        return None if a is None or b is None or n == 0 else round((a - b) / n, 1)

    costs = {"baseline_no_stream": baseline,
             "idle_stream_alone": above(cpu.get((0, 1)), baseline, 1),
             "talking_stream_alone": above(cpu.get((1, 0)), baseline, 1),
             "talking_stream_of_2": above(cpu.get((2, 0)), baseline, 2)}
    for (talking, idle), value in cpu.items():
        if talking and idle and (talking, 0) in cpu:
            costs[f"idle_stream_beside_{talking}_talking"] = above(value, cpu[(talking, 0)], idle)
    return costs


def chart(levels: list[dict], path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = list(range(len(levels)))
    left.plot(x, [r["fps_min"] for r in levels], "o-", label="slowest stream")
    left.plot(x, [r["fps_mean"] for r in levels], "o--", alpha=0.7, label="mean of streams")
    left.axhline(TARGET_FPS, color="red", ls=":", lw=1, label=f"{TARGET_FPS:g} fps")
    left.axhline(25, color="grey", ls=":", lw=1)
    left.set_ylabel("decoded frames per second")
    left.set_title("Delivered frame rate")
    right.plot(x, [r["media_cpu_percent"] for r in levels], "o-", label="engine media process")
    right.plot(x, [r["receiver_cpu_percent"] for r in levels], "x:", label="receiving peers")
    right.axhline(200, color="grey", ls=":", lw=1, label="2 cores")
    right.set_ylabel("CPU, % of one core")
    right.set_title("CPU use while measured")
    for axis in (left, right):
        axis.set_xlabel("streams, talking+idle (512 px, VP8)")
        axis.set_xticks(x, [r["mix"] for r in levels], fontsize=8)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("Local engine: simultaneous streams")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixes", default="0+1,1+0,1+3,2+0",
                        help="talking+idle stream mixes measured first (comma-separated)")
    parser.add_argument("--max-streams", type=int, default=8,
                        help="then talking streams only, 1..N, until one falls below 24 fps")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--receive", help=argparse.SUPPRESS)  # internal: the receiver process
    args = parser.parse_args(argv)
    if args.receive:
        receiver_main(args.receive)
        return None
    mixes_asked = [parse_mix(m) for m in args.mixes.split(",") if m.strip()]

    mixes: list[dict] = []
    levels: list[dict] = []
    baseline: float | None = None
    with LoadMonitor() as load, bench_stack(NAME, ["engine"], env=ENGINE_ALONE) as stack:
        (stack.media_root / "astronaut.png").write_bytes(astronaut_png())
        engine_url = stack.engine_url

        async def level(cpu: CpuSampler, talking: int, idle: int) -> dict:
            started = time.monotonic()
            try:
                row = await run_level(stack, engine_url, cpu, talking, idle, args.seconds)
            except Exception as exc:
                row = failed_level(talking, idle, exc)
            row["level_seconds"] = round(time.monotonic() - started, 1)
            print(f"{row['mix']} (talking+idle): slowest {row['fps_min']} fps, "
                  f"mean {row['fps_mean']}, media {row['media_cpu_percent']}% receivers "
                  f"{row['receiver_cpu_percent']}% holds={row['holds']}", flush=True)
            return row

        async def run() -> None:
            nonlocal baseline
            pids = {"engine": stack.pid("engine"), "media": await media_pid(engine_url)}
            with CpuSampler(pids) as cpu:
                start = time.time()
                await asyncio.sleep(min(5.0, args.seconds))
                baseline = cpu.percent(start, time.time()).get("media")
                for talking, idle in mixes_asked:
                    mixes.append(await level(cpu, talking, idle))
                for n in range(1, args.max_streams + 1):
                    row = await level(cpu, n, 0)
                    levels.append(row)
                    if not row["holds"]:
                        break

        asyncio.run(run())
        engine_log_tail = stack.log("engine")[-1500:]

    held = max((r["streams"] for r in levels if r["holds"]), default=0)
    costs = stream_costs(baseline, levels + mixes)  # the mixes win where both measured
    path = chart_path(NAME)
    chart(mixes + levels, path)

    def mix(talking: int, idle: int) -> dict:
        return next((r for r in mixes + levels if (r["talking"], r["idle"]) == (talking, idle)),
                    {})

    report = {
        "setup": {"engine": "manage.py run_engine (the Procfile's engine), ENGINE_MODULES='' (D-ID streams)",
                  "stream": "Talks, 512 px, VP8 (compatibility_mode on), Piper voice",
                  "receivers": "aiortc peers in one separate process, decoding both tracks",
                  "cpu": "the engine's media process, from /proc, % of one core",
                  "seconds_per_level": args.seconds, "warm_up_s": WARM_UP,
                  "target_fps": TARGET_FPS},
        "streams_held": held,
        "mixes": mixes,
        "levels": levels,
        "cpu_per_stream_percent": costs,
        "fps_all_levels": summarize(s["fps"] for r in mixes + levels
                                    for s in r.get("per_stream", [])),
        "summary": {"engine talking streams held (≥24 fps)": held,
                    "1 talking + 3 idle: slowest fps (talking / idle)": (
                        mix(1, 3).get("fps_min_talking"), mix(1, 3).get("fps_min_idle")),
                    "2 talking: slowest fps": mix(2, 0).get("fps_min"),
                    "media CPU % of a core per idle stream": costs["idle_stream_alone"],
                    "media CPU % of a core per talking stream": costs["talking_stream_alone"],
                    "slowest-stream fps at the last level held": next(
                        (r["fps_min"] for r in levels if r["streams"] == held), None)},
        "meaning": __doc__,
        "chart": path.name,
        "engine_log_tail": engine_log_tail,
    }
    out = write(NAME, report, load=load)
    print(f"wrote {out} and {path}")
    return report


if __name__ == "__main__":
    main()
