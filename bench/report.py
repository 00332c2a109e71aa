"""What every benchmark shares when it reports: percentiles, how busy the machine was, the JSON.

Benchmarks report; they never assert a timing goal. Each result file says when it was taken, on
what, and the 1-minute load average before, during and after, because on a shared 2-core machine
another process can double any number here.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0..100), linearly interpolated between the closest ranks."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Iterable[float | None], *, digits: int = 2) -> dict[str, Any]:
    """n, p50, p90, p99, mean, min and max of the values that are there (None is skipped)."""
    present = [float(v) for v in values if v is not None]
    if not present:
        return {"n": 0}

    def r(value: float | None) -> float | None:
        return None if value is None else round(value, digits)

    return {
        "n": len(present),
        "p50": r(percentile(present, 50)),
        "p90": r(percentile(present, 90)),
        "p99": r(percentile(present, 99)),
        "mean": r(statistics.fmean(present)),
        "min": r(min(present)),
        "max": r(max(present)),
    }


QUIET_LOAD = 1.0  # the 1-minute load average above which the machine is not quiet


def quiet_start(force: bool) -> tuple[float, bool]:
    """(the 1-minute load now, whether to run): a benchmark that needs a quiet machine refuses,
    and says why, when the load is above QUIET_LOAD, unless `--force` asks it to run anyway."""
    load = os.getloadavg()[0]
    if load > QUIET_LOAD and not force:
        print(f"1-minute load {load:.2f} > {QUIET_LOAD}: not a quiet machine, no figures "
              "(--force to run anyway)", file=sys.stderr)
        return load, False
    return load, True


class LoadMonitor:
    """Samples the 1-minute load average in the background while a benchmark runs."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LoadMonitor:
        self.samples.append(os.getloadavg()[0])
        self._thread = threading.Thread(target=self._run, name="load-monitor", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.samples.append(os.getloadavg()[0])

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.samples.append(os.getloadavg()[0])

    def as_dict(self) -> dict[str, Any]:
        samples = self.samples or [os.getloadavg()[0]]
        return {
            "load_1min_start": round(samples[0], 2),
            "load_1min_end": round(samples[-1], 2),
            "load_1min_max": round(max(samples), 2),
            "load_1min_mean": round(statistics.fmean(samples), 2),
            "note": "1-minute load average sampled every few seconds; above the core count "
            "means other work (e.g. a parallel browser test run) competed for the CPU",
        }


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "cpu_count": os.cpu_count(),
        "load_average_now": [round(x, 2) for x in os.getloadavg()],
    }


def write(name: str, report: dict[str, Any], *, load: LoadMonitor | None = None) -> Path:
    """Write bench/results/<name>.json with the machine and load around the numbers."""
    document = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        **({"load": load.as_dict()} if load is not None else {}),
        **report,
    }
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def chart_path(name: str) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    return RESULTS_DIR / f"{name}.png"


def pyplot():
    """matplotlib's pyplot on the file-only backend (no display on a build machine)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
