"""Turn latency in the real browser: Debian's Chromium drives the live page against the whole
local product, spoken turns through a fake microphone and typed turns through the chat box.

    .venv/bin/python -m bench.browser_turn_bench [--spoken 20] [--typed 20] [--per-browser 5]

The product runs as `make run` runs it (launcher.Stack: daphne, Celery worker and beat, the
local engine). The page is driven with the same helpers as the browser tests (launcher.page).
Spoken turns: each Chromium's fake microphone plays one WAV (launcher.microphone) with several
Piper-spoken questions `--every` seconds apart; the end of each question is taken where the
page's own microphone track fell quiet (an analyser on that track, every 10 ms), and checked
against where the WAV says it ends. Typed turns start when the send button is clicked. Once the
avatar's mouth has moved for a moment, the Interrupt button cuts the reply so that the next
turn starts from an idle avatar.

Per turn, ms from the end of speech (spoken) or the click on Send (typed), one clock:
- speculative_final (spoken): the recogniser's speculative final that already had the words
  the turn saved (the preemptive reply starts on it); none when the words changed at the end
- transcript_final: the page receives `transcript.final`
- message_saved, task_started, first_token, first_sentence_sent, avatar_started_server: the
  marks the product saves on its Message rows (consumer, Celery pickup, LLM, first sentence
  sent to the avatar, the avatar service's `stream/started` as the server saw it)
- reply_started: the page receives `reply.started`
- stream_started: the avatar service's `stream/started` reaches the page (its data channel)
- avatar_speaking: the page's avatar badge turns to speaking
- first_moving_frame: the first decoded frame whose mouth region moves clearly more than it
  did while the avatar idled before the turn
Two figures are measured from the avatar POST instead (the issue's engine targets):
- post_to_stream_started: ms from the first sentence's POST (`first_sentence_sent`) to the page
  receiving `stream/started`;
- the engine's own trace of every talk (engine-only `GET /streams`, read before each browser
  closes): ms after the POST reached the engine to `tts_started`, `tts_first_audio`, `first_frame` and
  `first_audio_out` (the first audio frame handed to WebRTC).
Refuses to run when the 1-minute load average is above 1.0 at the start (`--force` runs anyway
and says so in the JSON): on a busy machine the figures say little about the product.
Writes bench/results/browser_turns.json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from avatars.demo import DEMO_SIZE, astronaut_png
from launcher import Stack
from launcher.live_page import LivePage
from launcher.microphone import load_speaker, record_turns
from launcher.page import launch_chromium, open_live_page
from launcher.page_recorder import mouth_box

from .harness import QUESTIONS, message_marks
from .report import QUIET_LOAD, LoadMonitor, quiet_start, summarize, write

NAME = "browser_turns"
MOVED = 0.004  # least share of mouth pixels changing that counts as the lips moving
ENGINE_STEPS = ["queued", "tts_started", "tts_first_audio", "first_frame", "first_audio_out"]
HOPS = ["speculative_final", "transcript_final", "message_saved", "task_started", "first_token",
        "first_sentence_sent", "reply_started", "avatar_started_server", "stream_started",
        "avatar_speaking", "first_moving_frame"]
MARKS = {"speculative_final": ("question", "speculative_final_at"),
         "message_saved": ("question", "transcript_final_at"),
         "task_started": ("reply", "task_started_at"), "first_token": ("reply", "first_token_at"),
         "first_sentence_sent": ("reply", "first_sentence_sent_at"),
         "avatar_started_server": ("reply", "avatar_started_at")}


def message_id(frame: dict) -> int | None:
    """The Message id a frame refers to (`message_id`, or `message` in older frames)."""
    value = frame.get("message_id", frame.get("message"))
    return value if isinstance(value, int) else None


def reply_and_cut(live: LivePage, *, origin: float, asked_since: float, box_idle: tuple) -> dict:
    """Wait for the answer to the question asked after `asked_since`, let the mouth move a
    moment, interrupt; when each step happened (epoch ms)."""
    final = live.wait_message("transcript.final", since=asked_since, timeout=45)
    started = live.wait_message("reply.started", since=final["t"], timeout=60)
    stream = live.wait_stream_event("stream/started", since=final["t"], timeout=60)
    speaking = live.wait_avatar("speaking", since=final["t"], timeout=30)
    live.page.wait_for_timeout(1200)
    cut = live.click("interrupt-button")
    live.wait_avatar_idle(since=cut, timeout=30)
    idle = [s["moved"] for s in live.mouth(*box_idle, state="idle")]
    threshold = max(MOVED, 5 * statistics.median(idle)) if idle else MOVED
    moving = next((s["t"] for s in live.mouth(stream["t"] - 300, cut) if s["moved"] > threshold),
                  None)
    return {
        "origin": origin, "heard": final["data"].get("text"),
        "question_id": message_id(final["data"]), "reply_id": message_id(started["data"]),
        "at": {"transcript_final": final["t"], "reply_started": started["t"],
               "stream_started": stream["t"], "avatar_speaking": speaking,
               "first_moving_frame": moving},
        "idle_mouth_frames": len(idle), "moving_threshold": round(threshold, 4),
    }


def engine_traces(stack: Stack) -> list[dict]:
    """The engine's traces of the talks of its live streams (ms after each talk's POST)."""
    try:
        return [talk["ms"] for stream in stack.engine_streams(None)
                for talk in stream.get("talks", [])]
    except OSError as exc:  # the trace is a bonus: never lose the turns for it
        print(f"engine traces unavailable: {exc}", file=sys.stderr)
        return []


def spoken_turns(driver, stack: Stack, folder: Path, speaker, box, *, count: int,
                 every: float, traces: list[dict]) -> list[dict]:
    texts = [QUESTIONS[n % len(QUESTIONS)] for n in range(count)]
    wav = folder / f"questions-{time.monotonic_ns()}.wav"
    recordings = record_turns(wav, texts, speaker, leading=1.0, every=every)
    browser = launch_chromium(driver, wav)
    turns = []
    try:
        live, _ = open_live_page(browser, stack.url, "demo", stack.credentials["demo"],
                                 mic_level=True)
        live.start_mouth_probe(box, DEMO_SIZE)
        live.page.wait_for_timeout(2500)  # idle mouth, for the motion threshold
        live.click("mic-button")
        opened = next(e["t"] for e in _wait(live.microphone, lambda e: e["event"] == "open"))
        previous_final = 0.0
        for recording in recordings:
            said_from = opened + recording.speech_start * 1000
            wav_end = opened + recording.speech_end * 1000
            try:
                # On a starved machine the last question's final may come after this one was
                # asked: never take a final twice.
                turn = reply_and_cut(live, origin=wav_end,
                                     asked_since=max(said_from, previous_final + 1),
                                     box_idle=(said_from - 2300, said_from - 100))
                previous_final = turn["at"]["transcript_final"]
            except AssertionError as exc:  # one stuck turn must not end the benchmark
                turns.append({"mode": "spoken", "asked": recording.text, "failed": str(exc)[:300]})
                continue
            heard_end = next((t for t in live.speech_ends() if t >= said_from), None)
            turn["origin"] = heard_end or wav_end
            turn["speech_end_page_minus_wav_ms"] = (None if heard_end is None
                                                    else round(heard_end - wav_end))
            turns.append({"mode": "spoken", "asked": recording.text, **turn})
            print(f"spoken: {recording.text!r} -> {turn['heard']!r}", flush=True)
        traces.extend(engine_traces(stack))
    finally:
        browser.close()
    return turns


def typed_turns(driver, stack: Stack, box, *, count: int, traces: list[dict]) -> list[dict]:
    browser = launch_chromium(driver)
    turns = []
    try:
        live, _ = open_live_page(browser, stack.url, "demo", stack.credentials["demo"])
        live.start_mouth_probe(box, DEMO_SIZE)
        for n in range(count):
            live.page.wait_for_timeout(2500)
            text = QUESTIONS[n % len(QUESTIONS)]
            sent = live.say_in_writing(text)
            try:
                turn = reply_and_cut(live, origin=sent, asked_since=sent,
                                     box_idle=(sent - 2300, sent - 100))
            except AssertionError as exc:
                turns.append({"mode": "typed", "asked": text, "failed": str(exc)[:300]})
                continue
            turns.append({"mode": "typed", "asked": text, **turn})
            print(f"typed: {text!r}", flush=True)
        traces.extend(engine_traces(stack))
    finally:
        browser.close()
    return turns


def _wait(read, where, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [item for item in read() if where(item)]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError("the page never opened the microphone")


def hops(turns: list[dict], marks: dict[int, dict]) -> list[dict]:
    """Each turn's hops in ms from its origin (page marks and the Message rows' marks)."""
    for turn in turns:
        if "failed" in turn:
            continue
        at = dict(turn["at"])
        rows = {"question": marks.get(turn["question_id"], {}),
                "reply": marks.get(turn["reply_id"], {})}
        for hop, (row, field) in MARKS.items():
            seconds = rows[row].get(field)
            at[hop] = None if seconds is None else seconds * 1000
        turn["ms"] = {hop: None if at.get(hop) is None else round(at[hop] - turn["origin"], 1)
                      for hop in HOPS}
        posted, started = at.get("first_sentence_sent"), at.get("stream_started")
        turn["post_to_stream_started_ms"] = (None if posted is None or started is None
                                             else round(started - posted, 1))
        turn["reply"] = rows["reply"].get("text", "")[:200]
    return turns


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spoken", type=int, default=20)
    parser.add_argument("--typed", type=int, default=20)
    parser.add_argument("--per-browser", type=int, default=5, help="turns per Chromium")
    parser.add_argument("--every", type=float, default=14.0,
                        help="seconds from one spoken question to the next")
    parser.add_argument("--force", action="store_true", help="run on a busy machine too")
    args = parser.parse_args(argv)
    load_at_start, quiet_enough = quiet_start(args.force)
    if not quiet_enough:
        return None

    from playwright.sync_api import sync_playwright  # starts Playwright's driver process

    speaker = load_speaker()
    box = mouth_box(astronaut_png(), DEMO_SIZE, pad=6)
    turns: list[dict] = []
    traces: list[dict] = []
    with LoadMonitor() as load, Stack(name="bench-browser-turns") as stack, \
            sync_playwright() as driver:
        started = time.monotonic()
        for mode, total in (("spoken", args.spoken), ("typed", args.typed)):
            for first in range(0, total, args.per_browser):
                count = min(args.per_browser, total - first)
                if mode == "spoken":
                    turns += spoken_turns(driver, stack, stack.tmp, speaker, box, count=count,
                                          every=args.every, traces=traces)
                else:
                    turns += typed_turns(driver, stack, box, count=count, traces=traces)
        ids = [t[k] for t in turns if "failed" not in t for k in ("question_id", "reply_id")]
        marks = message_marks(stack, [i for i in ids if i is not None]) if ids else {}
        seconds = time.monotonic() - started
    hops(turns, marks)
    stats = {mode: {hop: summarize(t["ms"][hop] for t in turns
                                   if t["mode"] == mode and "ms" in t) for hop in HOPS}
             for mode in ("spoken", "typed")}
    since_post = summarize(t.get("post_to_stream_started_ms") for t in turns)
    engine = {step: summarize(trace.get(step) for trace in traces) for step in ENGINE_STEPS}
    report = {
        "client": "Debian's Chromium driven by Playwright (launcher.page), fake microphone",
        "quiet_machine": load_at_start <= QUIET_LOAD,
        "setup": {"product": "launcher.Stack (the Procfile: daphne, Celery worker + beat, "
                             "manage.py run_engine)", "avatar": "astronaut, 512 px",
                  "spoken": args.spoken, "typed": args.typed, "per_browser": args.per_browser,
                  "every_s": args.every, "seconds": round(seconds, 1)},
        "spoken_ms": stats["spoken"], "typed_ms": stats["typed"],
        "speech_end_page_minus_wav_ms": summarize(t.get("speech_end_page_minus_wav_ms")
                                                  for t in turns),
        "post_to_stream_started_ms": since_post,
        "engine_trace_ms_after_post": engine,
        "failures": [t for t in turns if "failed" in t],
        "summary": {
            f"{mode}: {hop} p{q} ms": stats[mode][hop].get(f"p{q}")
            for mode in ("spoken", "typed") for hop in ("transcript_final", "first_moving_frame")
            for q in (50, 90)
        } | {
            f"avatar POST → stream/started p{q} ms": since_post.get(f"p{q}") for q in (50, 90)
        } | {
            f"engine: POST → first audio out p{q} ms": engine["first_audio_out"].get(f"p{q}")
            for q in (50, 90)
        },
        "meaning": __doc__,
        "turns": turns,
    }
    out = write(NAME, report, load=load)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
