"""How many local-engine streams can talk at once and still deliver ≥ 24 decoded frames a second.

    .venv/bin/python -m bench.engine_capacity_bench [--max-streams 8] [--seconds 10]

Starts the engine (`python -m streaming.engine.server`, ENGINE_MODULES="": D-ID streams only)
on a free loopback port. For N = 1, 2, 3, ... a separate receiver process opens N Talks streams
at 512 px (VP8), answers each with an aiortc peer (loopback candidates), makes every stream talk
continuously (a long text, spoken sentence by sentence through Piper), and once every stream
has started speaking and 2 s more have passed, counts the video frames each peer decodes during `--seconds`. The ramp stops after the first N
whose slowest stream falls below 24 fps. The receivers decode on the same 2 cores as the engine
(a browser would not), so the engine's and the receiver's CPU use are reported per level.

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

from .report import LoadMonitor, chart_path, pyplot, summarize, write
from .services import BASE_DIR, CpuSampler, Processes

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


async def receive(engine_url: str, n: int, seconds: float) -> dict:
    from .live_client import until
    from .receiver import EngineStream, install_sender_report_capture

    install_sender_report_capture()
    streams = [EngineStream(engine_url) for _ in range(n)]
    opened = time.monotonic()
    for stream in streams:  # one by one, as users arrive; each opening builds a renderer
        await stream.open("/media/astronaut.png")
    open_seconds = time.monotonic() - opened
    for stream in streams:
        await stream.say(SPEECH)
    # Measure the steady state of talking: every stream has started speaking, then a little more.
    await until(lambda: all(any(name == "stream/started" for name, _, _ in s.events)
                            for s in streams), within=60, every=0.1)
    await asyncio.sleep(WARM_UP)
    cpu_before, start = time.process_time(), time.time()
    await asyncio.sleep(seconds)
    end, cpu = time.time(), time.process_time() - cpu_before
    rows = []
    for stream in streams:
        frames = [f for f in stream.video if start <= f.arrival < end]
        audio = [f for f in stream.audio if start <= f.arrival < end]
        gaps = [b.arrival - a.arrival for a, b in zip(frames, frames[1:], strict=False)]
        speaking = any(name == "stream/started" for name, _, _ in stream.events) and not any(
            name == "stream/done" and at < end for name, _, at in stream.events
        )
        rows.append({
            "fps": round(len(frames) / (end - start), 2),
            "audio_frames_per_s": round(len(audio) / (end - start), 1),
            "longest_gap_ms": round(max(gaps) * 1000, 1) if gaps else None,
            "talking_whole_window": speaking,
            "open_seconds": round(stream.timings["first_video"], 2),
        })
    for stream in streams:
        await stream.close()
    return {"window": [start, end], "streams": rows, "open_all_seconds": round(open_seconds, 2),
            "load_1min": round(os.getloadavg()[0], 2),
            "receiver_cpu_percent": round(100 * cpu / (end - start), 1)}


def receiver_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(receive(spec["engine_url"], spec["n"], spec["seconds"]))
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


async def run_level(processes: Processes, engine_url: str, cpu: CpuSampler, n: int,
                    seconds: float) -> dict:
    spec = processes.tmp / f"receiver-{n}.json"
    out = processes.tmp / f"receiver-{n}.out.json"
    spec.write_text(json.dumps({"engine_url": engine_url, "n": n, "seconds": seconds,
                                "out": str(out)}))
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.engine_capacity_bench", "--receive", str(spec),
        cwd=BASE_DIR, env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
    )
    try:
        await asyncio.wait_for(child.wait(), timeout=seconds + WARM_UP + 30 * n + 60)
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
    return {
        "streams": n,
        "fps_min": min(fps), "fps_mean": round(statistics.fmean(fps), 2),
        "per_stream": found["streams"],
        "engine_cpu_percent": cpu.percent(start, end).get("engine"),
        "receiver_cpu_percent": found["receiver_cpu_percent"],
        "open_all_seconds": found["open_all_seconds"],
        "load_1min_at_end": found["load_1min"],
        "holds": min(fps) >= TARGET_FPS and all(s["talking_whole_window"] for s in found["streams"]),
    }


def chart(levels: list[dict], path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    x = [r["streams"] for r in levels]
    left.plot(x, [r["fps_min"] for r in levels], "o-", label="slowest stream")
    left.plot(x, [r["fps_mean"] for r in levels], "o--", alpha=0.7, label="mean of streams")
    left.axhline(TARGET_FPS, color="red", ls=":", lw=1, label=f"{TARGET_FPS:g} fps")
    left.axhline(25, color="grey", ls=":", lw=1)
    left.set_ylabel("decoded frames per second")
    left.set_title("Delivered frame rate while every stream talks")
    right.plot(x, [r["engine_cpu_percent"] for r in levels], "o-", label="engine")
    right.plot(x, [r["receiver_cpu_percent"] for r in levels], "x:", label="receiving peers")
    right.axhline(200, color="grey", ls=":", lw=1, label="2 cores")
    right.set_ylabel("CPU, % of one core")
    right.set_title("CPU use while measured")
    for axis in (left, right):
        axis.set_xlabel("simultaneous streams (512 px, VP8)")
        axis.set_xticks(x)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("Local engine: simultaneous talking streams")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-streams", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--receive", help=argparse.SUPPRESS)  # internal: the receiver process
    args = parser.parse_args(argv)
    if args.receive:
        receiver_main(args.receive)
        return None

    from .receiver import astronaut_png

    levels: list[dict] = []
    with LoadMonitor() as load, Processes(NAME) as processes:
        media = processes.tmp / "media"
        media.mkdir()
        (media / "astronaut.png").write_bytes(astronaut_png())
        port = processes.engine(modules="", env={"ENGINE_MEDIA_ROOT": str(media)})
        engine_url = f"http://127.0.0.1:{port}"

        async def run() -> None:
            with CpuSampler({"engine": processes.pid("engine")}) as cpu:
                for n in range(1, args.max_streams + 1):
                    started = time.monotonic()
                    try:
                        row = await run_level(processes, engine_url, cpu, n, args.seconds)
                    except Exception as exc:
                        row = {"streams": n, "holds": False, "fps_min": 0.0, "fps_mean": 0.0,
                               "engine_cpu_percent": None, "receiver_cpu_percent": None,
                               "failed": f"{type(exc).__name__}: {exc}"[:300]}
                    row["level_seconds"] = round(time.monotonic() - started, 1)
                    levels.append(row)
                    print(f"{n} streams: slowest {row['fps_min']} fps, mean {row['fps_mean']}, "
                          f"engine {row['engine_cpu_percent']}% receivers "
                          f"{row['receiver_cpu_percent']}% holds={row['holds']}", flush=True)
                    if not row["holds"]:
                        break

        asyncio.run(run())
        engine_log_tail = processes.log("engine")[-1500:]

    held = max((r["streams"] for r in levels if r["holds"]), default=0)
    path = chart_path(NAME)
    chart(levels, path)
    report = {
        "setup": {"engine": "python -m streaming.engine.server, ENGINE_MODULES='' (D-ID streams)",
                  "stream": "Talks, 512 px, VP8 (compatibility_mode on), Piper voice",
                  "receivers": "aiortc peers in one separate process, decoding both tracks",
                  "seconds_per_level": args.seconds, "warm_up_s": WARM_UP,
                  "target_fps": TARGET_FPS},
        "streams_held": held,
        "levels": levels,
        "fps_all_levels": summarize(s["fps"] for r in levels for s in r.get("per_stream", [])),
        "summary": {"engine streams held (≥24 fps)": held,
                    "engine CPU % of a core, 1 talking stream": next(
                        (r["engine_cpu_percent"] for r in levels if r["streams"] == 1), None),
                    "slowest-stream fps with 1 stream": next(
                        (r["fps_min"] for r in levels if r["streams"] == 1), None),
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
