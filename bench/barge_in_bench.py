"""Barge-in by voice in the real browser: speech onset → the avatar stopped, in Chromium.

How soon after the user starts speaking over the avatar it stops, on the whole local product.

    .venv/bin/python -m bench.barge_in_bench [--barge-ins 10] [--force]

The product runs as `make run` runs it (launcher.Stack), the page is driven with the browser
tests' helpers (launcher.page). Each barge-in gets a Chromium of its own, whose fake microphone
plays one WAV once from when the page opens it (launcher.microphone: silence, then a Piper-spoken
phrase): the avatar is asked a long question by text, and as soon as its `stream/started`
reaches the page the microphone is turned on, so the phrase begins `speech_start` seconds into
the avatar's answer. The onset is where the WAV says the words start (the page's microphone
opening + `speech_start`), checked against where the page's own microphone track first turned
loud (an analyser on that track, every 10 ms): `onset_page_minus_wav_ms`.

Per barge-in, ms from the onset, p50/p90, one clock:
- barge_in_frame: the server's `avatar.interrupt` frame reaches the page (the turn state cut the
  avatar off: on the recogniser's `SpeechStarted` plus 200 ms of voice, or on the first words).
  The page gets no frame of its own for `SpeechStarted`; this is the first sign of it.
- first_transcript: the first `transcript.interim`/`transcript.final` of the words
- stopped: the avatar service's `stream/done {interrupted: true}` reaches the page (its data
  channel): the cut stopped the avatar. A talk that ended on its own before the cut reached the
  engine (a short first sentence) is not counted here but in `ended_on_its_own_ms`, and a
  barge-in with no talk playing or queued at the onset (the reply's next sentence was still
  being written) in `between_talks`: there, `avatar.interrupt` is the stop.
- idle: the page's avatar badge turns idle
The issue's target is `stopped` p50 ≤ 300 ms on a quiet machine. Refuses to run when the
1-minute load average is above 1.0 at the start (`--force` runs anyway and says so in the JSON).
Writes bench/results/barge_in.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from launcher import Stack
from launcher.live_page import LivePage
from launcher.microphone import SPOKEN, load_speaker, record
from launcher.page import launch_chromium, open_live_page

from .harness import BENCH_ENV
from .report import QUIET_LOAD, LoadMonitor, quiet_start, summarize, write

NAME = "barge_in"
LEADING_S = 1.2  # into the avatar's answer: within its first sentence, past the page's mic start
# With no talk playing at the onset, how long a talk the cut may still end can take to say so.
BETWEEN_TALKS_WAIT_S = 3.0
HOPS = ["barge_in_frame", "first_transcript", "stopped", "idle"]
# Questions that get long answers, so the phrase always falls while the avatar talks.
LONG_QUESTIONS = [
    "Tell me the whole story of your first flight into space, step by step.",
    "Describe everything about your training as an astronaut.",
    "Tell me in detail what a day on the space station is like.",
    "Explain everything you know about how rockets reach orbit.",
]


def _first(items: list[dict], where) -> dict | None:
    return next((item for item in items if where(item)), None)


def _wait(read, where, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = _first(read(), where)
        if found is not None:
            return found
        time.sleep(0.05)
    raise AssertionError("the page never opened the microphone")


def barge_in(live: LivePage, question: str, speech_start: float) -> dict:
    """Ask `question`, talk over the answer; when each step happened (epoch ms)."""
    asked = live.say_in_writing(question)
    started = live.wait_stream_event("stream/started", since=asked, timeout=90)
    live.click("mic-button")
    opened = _wait(live.microphone, lambda e: e["event"] == "open")["t"]
    # The WAV's onset, not the page's: the page hears the words a few tens of ms later (its
    # capture path), and the user started speaking when the WAV says.
    onset = opened + speech_start * 1000
    cut = live.wait_message("avatar.interrupt", since=opened, timeout=30)
    talks = [(e["t"], e["event"]) for name in ("stream/started", "stream/done")
             for e in live.stream_events(name, since=asked)]
    between_talks = not talk_playing_at(talks, onset)
    try:  # the talk that played at the onset ends: cut, or at its own end if that came first
        stopped = live.wait_stream_event("stream/done", since=onset,
                                         timeout=BETWEEN_TALKS_WAIT_S if between_talks else 30)
    except AssertionError:
        if not between_talks:
            raise
        stopped = None  # nothing was playing or queued: the cut stopped the reply's writing
    final = live.wait_message("transcript.final", since=opened, timeout=45,
                              where=lambda frame: frame.get("source") == "voice")
    loud = _first(live.microphone(), lambda e: e["event"] == "loud" and e["t"] >= opened)
    idle = live.wait_avatar_idle(since=onset, timeout=30)
    words = _first(live.messages(since=opened),
                   lambda m: m["type"] in ("transcript.interim", "transcript.final"))
    states = [s for s in live.avatar_states() if s["t"] <= onset]
    by_the_cut = bool(stopped and stopped["payload"].get("interrupted"))
    at = {"barge_in_frame": cut["t"], "first_transcript": words and words["t"],
          "stopped": stopped["t"] if by_the_cut else None, "idle": idle}
    return {
        "asked": question, "heard": final["data"].get("text"),
        "stream_started_to_mic_open_ms": round(opened - started["t"]),
        "onset_page_minus_wav_ms": None if loud is None else round(loud["t"] - onset),
        "avatar_at_onset": states[-1]["state"] if states else None,
        "between_talks": between_talks,
        "stopped_by_the_cut": by_the_cut,
        "ended_on_its_own_ms": round(stopped["t"] - onset, 1) if stopped and not by_the_cut
        else None,
        "ms": {hop: None if t is None else round(t - onset, 1) for hop, t in at.items()},
    }


def talk_playing_at(talks: list[tuple[float, str]], t: float) -> bool:
    """Whether a talk was playing at `t`, from the data channel's (time, "stream/started" or
    "stream/done") events: the badge stays "speaking" between the sentences of a reply."""
    playing = False
    for at, event in sorted(talks):
        if at > t:
            break
        playing = event == "stream/started"
    return playing


def run_barge_ins(driver, stack: Stack, wav: Path, speech_start: float, count: int) -> list[dict]:
    results = []
    for n in range(count):
        question = LONG_QUESTIONS[n % len(LONG_QUESTIONS)]
        browser = launch_chromium(driver, wav)  # the WAV plays from this page's mic opening
        try:
            live, _ = open_live_page(browser, stack.url, "demo", stack.credentials["demo"],
                                     mic_level=True)
            result = barge_in(live, question, speech_start)
        except AssertionError as exc:  # one stuck barge-in must not end the benchmark
            result = {"asked": question, "failed": str(exc)[:300]}
        finally:
            browser.close()
        results.append(result)
        print(f"barge-in {n + 1}/{count}: {result.get('ms') or result.get('failed')}", flush=True)
    return results


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--barge-ins", type=int, default=10)
    parser.add_argument("--force", action="store_true", help="run on a busy machine too")
    args = parser.parse_args(argv)
    load_at_start, quiet_enough = quiet_start(args.force)
    if not quiet_enough:
        return None

    from playwright.sync_api import sync_playwright  # starts Playwright's driver process

    speaker = load_speaker()
    with LoadMonitor() as load, Stack(name="bench-barge-in", env=BENCH_ENV) as stack, \
            sync_playwright() as driver:
        phrase = record(stack.tmp / "barge_in.wav", SPOKEN["barge_in"], speaker,
                        leading=LEADING_S)
        started = time.monotonic()
        results = run_barge_ins(driver, stack, phrase.path, phrase.speech_start, args.barge_ins)
        seconds = time.monotonic() - started
    done = [r for r in results if "ms" in r]
    stats = {hop: summarize(r["ms"][hop] for r in done) for hop in HOPS}
    report = {
        "client": "Debian's Chromium driven by Playwright (launcher.page), fake microphone",
        "quiet_machine": load_at_start <= QUIET_LOAD,
        "setup": {"product": "launcher.Stack (the Procfile: daphne, Celery worker + beat, "
                             "manage.py run_engine)", "avatar": "astronaut, 512 px",
                  "barge_ins": args.barge_ins, "phrase": phrase.text,
                  "phrase_starts_s_after_mic_open": round(phrase.speech_start, 3),
                  "seconds": round(seconds, 1)},
        "onset_to_ms": stats,
        "onset_page_minus_wav_ms": summarize(r["onset_page_minus_wav_ms"] for r in done),
        "avatar_at_onset": {state: sum(r["avatar_at_onset"] == state for r in done)
                            for state in {r["avatar_at_onset"] for r in done}},
        "between_talks": sum(r["between_talks"] for r in done),
        "stopped_by_the_cut": sum(r["stopped_by_the_cut"] for r in done),
        "ended_on_its_own_ms": [r["ended_on_its_own_ms"] for r in done
                                if r["ended_on_its_own_ms"] is not None],
        "failures": [r for r in results if "failed" in r],
        "summary": {f"barge-in onset → {label} p{q} ms": stats[hop].get(f"p{q}")
                    for hop, label in (("barge_in_frame", "avatar.interrupt frame"),
                                       ("stopped", "avatar stopped"),
                                       ("idle", "avatar idle on the page"))
                    for q in (50, 90)},
        "meaning": __doc__,
        "barge_ins": results,
    }
    out = write(NAME, report, load=load)
    print(f"wrote {out}")
    return report


if __name__ == "__main__":
    main()
