"""How soon a fresh engine answers a conversation's first question, with and without the LLM
warm-up (streaming/llm_warmup.py).

Each run starts the whole product afresh (launcher.Stack, so the engine's LLM has read nothing),
opens the demo avatar's live page in Chromium, waits `--wait` seconds (the greeting plays, and
the warm-up runs if it is on), then types one question and times, from Send: the LLM's first
token (the reply row's mark) and the first moving frame (the page's mouth probe). Runs
alternate between LLM_WARMUP=true and false.

    PYTHONPATH=. .venv/bin/python scripts/first_answer_probe.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

from avatars.demo import DEMO_SIZE, astronaut_png
from bench.browser_turn_bench import reply_and_cut
from bench.harness import message_marks
from launcher import Stack
from launcher.page import launch_chromium, open_live_page
from launcher.page_recorder import mouth_box

QUESTION = "How many legs does a spider have?"


def one_run(driver, box, *, warm: bool, wait: float) -> dict:
    env = {"LLM_WARMUP": "true" if warm else "false"}
    load = os.getloadavg()[0]
    with Stack(name=f"first-answer-{'warm' if warm else 'cold'}", env=env) as stack:
        browser = launch_chromium(driver)
        try:
            live, _ = open_live_page(browser, stack.url, "demo", stack.credentials["demo"])
            live.start_mouth_probe(box, DEMO_SIZE)
            live.page.wait_for_timeout(wait * 1000)
            sent = live.say_in_writing(QUESTION)
            turn = reply_and_cut(live, origin=sent, asked_since=sent,
                                 box_idle=(sent - 2300, sent - 100))
        finally:
            browser.close()
        marks = message_marks(stack, [turn["reply_id"]])[turn["reply_id"]]
    first_token = marks["first_token_at"] * 1000 - sent if marks.get("first_token_at") else None
    moving = turn["at"]["first_moving_frame"]
    return {
        "warm_up": warm, "load_1min_at_start": round(load, 2),
        "first_token_ms": None if first_token is None else round(first_token),
        "first_moving_frame_ms": None if moving is None else round(moving - sent),
        "reply": marks.get("text", "")[:120],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3, help="runs of each, alternating")
    parser.add_argument("--wait", type=float, default=6.0, help="seconds before the question")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    box = mouth_box(astronaut_png(), DEMO_SIZE, pad=6)
    runs = []
    with sync_playwright() as driver:
        for _ in range(args.runs):
            for warm in (False, True):
                runs.append(one_run(driver, box, warm=warm, wait=args.wait))
                print(json.dumps(runs[-1]), flush=True)
    for warm in (False, True):
        mine = [r for r in runs if r["warm_up"] is warm]
        for key in ("first_token_ms", "first_moving_frame_ms"):
            values = [r[key] for r in mine if r[key] is not None]
            if values:
                print(f"warm-up {'on ' if warm else 'off'} {key}: median {statistics.median(values):.0f}"
                      f" (min {min(values)}, max {max(values)}, n={len(values)})")


if __name__ == "__main__":
    main()
