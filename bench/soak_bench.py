"""A long session in the real browser: one conversation held open in Debian's Chromium against
the whole local product, with a typed turn every minute.

    .venv/bin/python -m bench.soak_bench [--minutes 30] [--every 60] [--force]

The product runs as `make run` runs it (launcher.Stack). Every `--every` seconds the page sends
a typed question and waits for the avatar to start and stop speaking. Every 10 s it samples:
- the page's decoded video frames (inbound-rtp `framesDecoded`), giving frames per second over
  each 10 s window;
- the WebSocket's state and the page's connection labels (a drop is any window in which the
  socket was not open or a label left its connected state);
- the resident memory (RSS) of each process of the stack, children included (the engine's
  speech, LLM and media processes are counted apart).
Reports: turns answered/failed, socket drops, fps p10/p50/min per window, RSS per process in
every window, at start and end (after the first turn, so the models are loaded), its growth,
and its growth over the second half alone (after warm-up).
Refuses to run when the 1-minute load average is above 1.0 at the start (`--force` runs anyway
and says so). Writes bench/results/soak.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import urllib.request

from launcher import Stack
from launcher.live_page import CONNECTED_LABELS, LivePage
from launcher.page import launch_chromium, open_live_page
from launcher.processes import descendants

from .harness import QUESTIONS
from .report import QUIET_LOAD, LoadMonitor, quiet_start, summarize, write

NAME = "soak"
SAMPLE_EVERY = 10.0  # seconds between fps/memory samples


def rss_mb(pid: int) -> float | None:
    """Resident memory of one process, from /proc (None once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def engine_roles(stack: Stack) -> dict[int, str]:
    """The engine's child processes by pid, from its own `GET /health` (engine-only)."""
    try:
        with urllib.request.urlopen(f"{stack.engine_url}/health", timeout=5) as response:
            processes = json.load(response).get("processes", {})
    except (OSError, ValueError):
        return {}
    return {info["pid"]: role for role, info in processes.items()
            if isinstance(info, dict) and isinstance(info.get("pid"), int)}


def process_name(pid: int, roles: dict[int, str]) -> str:
    if pid in roles:
        return roles[pid]
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().split(b"\0")
    except OSError:
        return "?"
    words = [a.decode(errors="replace") for a in argv if a]
    return os.path.basename(words[0]) if words else "?"


def memory(stack: Stack) -> dict[str, float]:
    """RSS (MB) of each stack process and of each of its descendants, by name."""
    found: dict[str, float] = {}
    roles = engine_roles(stack)
    for name, child in stack.children.items():
        for pid in [child.pid, *descendants(child.pid)]:
            mb = rss_mb(pid)
            if mb is None:
                continue
            label = name if pid == child.pid else f"{name}/{process_name(pid, roles)}"
            while label in found:  # several children of one kind (the worker's pool)
                label += "+"
            found[label] = round(mb, 1)
    return found


def late_growth(windows: list[dict]) -> dict[str, float]:
    """RSS growth per process over the second half of the run: warm-up (caches filled by the
    first turns) is over by then, so growth here is what a longer session would keep adding."""
    sampled = [w["rss_mb"] for w in windows if w.get("rss_mb")]
    if len(sampled) < 2:
        return {}
    middle, end = sampled[len(sampled) // 2], sampled[-1]
    return {name: round(end[name] - mb, 1) for name, mb in middle.items() if name in end}


def connected(live: LivePage) -> dict:
    """The session's state, its reconnect count, and whether every label says connected."""
    state = live.page.evaluate(
        "() => { const s = window.livePersona.state; "
        "return { session: s.session, reconnects: s.reconnectAttempt, labels: s.labels }; }")
    labels = live.labels()
    state["connected"] = state["session"] == "live" and all(
        labels.get(k) in ok for k, ok in CONNECTED_LABELS.items())
    return state


def one_turn(live: LivePage, text: str) -> dict:
    sent = live.say_in_writing(text)
    try:
        speaking = live.wait_avatar("speaking", since=sent, timeout=60)
        idle = live.wait_avatar_idle(since=speaking, timeout=120)
    except AssertionError as exc:
        return {"asked": text, "failed": str(exc)[:300]}
    return {"asked": text, "speaking_after_ms": round(speaking - sent),
            "spoke_ms": round(idle - speaking)}


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=60.0, help="seconds between turns")
    parser.add_argument("--force", action="store_true", help="run on a busy machine too")
    args = parser.parse_args(argv)
    load_at_start, quiet_enough = quiet_start(args.force)
    if not quiet_enough:
        return None

    from playwright.sync_api import sync_playwright  # starts Playwright's driver process

    turns: list[dict] = []
    windows: list[dict] = []
    with LoadMonitor() as load, Stack(name="bench-soak") as stack, sync_playwright() as driver:
        browser = launch_chromium(driver)
        try:
            live, _ = open_live_page(browser, stack.url, "demo", stack.credentials["demo"])
            turns.append(one_turn(live, QUESTIONS[0]))  # loads the models: memory from here
            rss_start = memory(stack)
            started = time.monotonic()
            next_turn = started + args.every
            last = (time.monotonic(), live.stats()["framesDecoded"])
            while time.monotonic() - started < args.minutes * 60:
                live.page.wait_for_timeout(SAMPLE_EVERY * 1000)
                now, frames = time.monotonic(), live.stats()["framesDecoded"]
                windows.append({"at_s": round(now - started, 1),
                                "fps": round((frames - last[1]) / (now - last[0]), 2),
                                **connected(live), "rss_mb": memory(stack)})
                last = (now, frames)
                if now >= next_turn:
                    turns.append(one_turn(live, QUESTIONS[len(turns) % len(QUESTIONS)]))
                    next_turn += args.every
                    last = (time.monotonic(), live.stats()["framesDecoded"])
            rss_end = memory(stack)
            at_end = connected(live)
        finally:
            browser.close()
    fps = [w["fps"] for w in windows]
    growth = {name: round(rss_end[name] - mb, 1) for name, mb in rss_start.items()
              if name in rss_end}
    late = late_growth(windows)
    report = {
        "client": "Debian's Chromium driven by Playwright (launcher.page)",
        "quiet_machine": load_at_start <= QUIET_LOAD,
        "setup": {"minutes": args.minutes, "every_s": args.every, "sample_every_s": SAMPLE_EVERY,
                  "product": "launcher.Stack (the Procfile)", "avatar": "astronaut, 512 px"},
        "turns": turns,
        "windows": windows,
        "fps": summarize(fps),
        "rss_mb_start": rss_start,
        "rss_mb_end": rss_end,
        "rss_mb_growth": growth,
        "rss_mb_growth_second_half": late,
        "page_at_end": at_end,
        "summary": {
            "turns answered": sum("failed" not in t for t in turns),
            "turns failed": sum("failed" in t for t in turns),
            "windows not connected": sum(not w["connected"] for w in windows),
            "socket reconnects": at_end["reconnects"],
            "fps p50": summarize(fps).get("p50"),
            "fps min": min(fps) if fps else None,
            "RSS total MB start": round(sum(rss_start.values()), 1),
            "RSS total MB end": round(sum(rss_end.values()), 1),
            "RSS largest growth MB": max(growth.values()) if growth else None,
            "RSS largest growth MB, second half": max(late.values()) if late else None,
        },
        "meaning": __doc__,
    }
    out = write(NAME, report, load=load)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
