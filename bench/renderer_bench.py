"""Renderer frame time at 256, 512 and 720 px on one core, and what the rest of a frame costs.

    .venv/bin/python bench/renderer_bench.py [--frames 250] [--threads 1]

Renders `--frames` frames of speech-like mouth motion (blinks and head motion included) per
size, single-threaded by default so the number is "one core's worth", and also times turning
the frame into an `av.VideoFrame` (what the video track adds). Writes
bench/results/renderer.json and prints a summary.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from av import VideoFrame

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import LoadMonitor, chart_path, pyplot  # noqa: E402
from engine.face import detect_face  # noqa: E402
from engine.presenters import presenter_image  # noqa: E402
from engine.renderer import TalkingHeadRenderer  # noqa: E402

SIZES = (256, 512, 720)
FPS = 25
RESULTS = Path(__file__).resolve().parent / "results" / "renderer.json"


def bench_size(image, landmarks, size: int, frames: int) -> dict:
    started = time.perf_counter()
    renderer = TalkingHeadRenderer(image, landmarks, size)
    setup_ms = (time.perf_counter() - started) * 1000
    visemes = ["sil", "aa", "E", "O", "I", "U", "PP", "FF"]
    renderer.frame(0.0, 0.5, "aa")  # first-touch allocations out of the measurement
    render, convert = [], []
    for i in range(frames):
        t = i / FPS
        mouth = max(0.0, np.sin(2 * np.pi * 3.1 * t)) * (i % 50 < 40)  # talk, pause, talk
        started = time.perf_counter()
        image_out = renderer.frame(t, float(mouth), visemes[i % len(visemes)])
        render.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        VideoFrame.from_ndarray(image_out, format="rgb24")
        convert.append((time.perf_counter() - started) * 1000)
    render.sort()
    return {
        "size": size,
        "frames": frames,
        "setup_ms": round(setup_ms, 1),
        "render_ms_mean": round(statistics.fmean(render), 3),
        "render_ms_median": round(statistics.median(render), 3),
        "render_ms_p95": round(render[int(0.95 * (len(render) - 1))], 3),
        "render_ms_max": round(render[-1], 3),
        "to_videoframe_ms_mean": round(statistics.fmean(convert), 3),
        "budget_ms_at_25fps": 1000 / FPS,
        "share_of_one_core_at_25fps": round(statistics.fmean(render) * FPS / 1000, 4),
    }


def plot(results: list[dict], path: Path) -> None:
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(7, 4))
    sizes = [str(r["size"]) for r in results]
    axis.bar(sizes, [r["render_ms_mean"] for r in results], label="render (mean)")
    axis.bar(sizes, [r["to_videoframe_ms_mean"] for r in results],
             bottom=[r["render_ms_mean"] for r in results], label="+ av.VideoFrame (mean)")
    axis.scatter(sizes, [r["render_ms_p95"] for r in results], color="black", zorder=3,
                 label="render p95")
    axis.axhline(1000 / FPS, color="red", ls=":", lw=1, label="frame budget at 25 fps")
    axis.set_xlabel("output size (px)")
    axis.set_ylabel("ms per frame, one core")
    axis.set_title("Talking-head renderer frame time")
    axis.legend(fontsize=8)
    axis.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--threads", type=int, default=1, help="OpenCV threads (1 = one core)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    cv2.setNumThreads(args.threads)

    image = presenter_image("local-astronaut")
    started = time.perf_counter()
    landmarks = detect_face(image)
    detect_ms = (time.perf_counter() - started) * 1000

    with LoadMonitor() as load:
        results = [bench_size(image, landmarks, size, args.frames) for size in SIZES]
    chart = chart_path("renderer")
    plot(results, chart)
    report = {
        "benchmark": "renderer",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "python": platform.python_version(),
            "cpu_count": __import__("os").cpu_count(),
            "opencv": cv2.__version__,
            "opencv_threads": args.threads,
        },
        "source": "skimage.data.astronaut (512x512)",
        "landmark_detection_ms": round(detect_ms, 1),
        "sizes": results,
        "load": load.as_dict(),
        "summary": {f"render {r['size']}px mean ms/frame": r["render_ms_mean"] for r in results}
        | {f"render {r['size']}px p95 ms/frame": r["render_ms_p95"] for r in results},
        "chart": chart.name,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    print(f"landmarks: {detect_ms:.0f} ms once per photo; OpenCV threads: {args.threads}")
    print(
        f"{'size':>6} {'mean':>8} {'median':>8} {'p95':>8} {'max':>8} {'+VideoFrame':>12} {'core@25fps':>11}"
    )
    for r in results:
        print(
            f"{r['size']:>6} {r['render_ms_mean']:>6.2f}ms {r['render_ms_median']:>6.2f}ms "
            f"{r['render_ms_p95']:>6.2f}ms {r['render_ms_max']:>6.2f}ms "
            f"{r['to_videoframe_ms_mean']:>10.2f}ms {r['share_of_one_core_at_25fps']:>10.1%}"
        )
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
