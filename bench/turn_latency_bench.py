"""Turn latency on the whole local product: end of the user's speech (or their typed message)
to the first decoded video frame of the avatar's answer, broken down by hop.

    .venv/bin/python -m bench.turn_latency_bench [--turns 20] [--per-conversation 5]

The product runs as `make run` runs it (launcher.Stack: daphne, Celery worker and beat,
the local engine with whisper, SmolLM2 and Piper, on a private database and Redis db). The
browser is a Python client, not Chromium: it logs in, starts a conversation from the avatar page's
API, opens the live WebSocket, answers the engine's offer with an aiortc peer (loopback
candidates) and relays the avatar's data-channel events back as the page does. For voice turns
it streams Piper-spoken questions as 16 kHz PCM16 in 40 ms frames in real time (then silence, as
an open microphone does), so the end of speech is known exactly; typed turns send `chat.text`.

Per turn, in ms from the end of speech (voice) or from sending the text (typed), on one clock:
- transcript_final: the browser receives `transcript.final` (voice: VAD/endpointing + STT final)
- message_saved: the user Message's transcript_final_at (consumer)
- task_started: the reply's task_started_at (Celery picked the task up)
- first_token: first_token_at (the LLM's first token)
- first_sentence_sent: first_sentence_sent_at (the first sentence goes to the avatar)
- reply_started_seen: the browser receives `reply.started`
- avatar_started: the data channel's `stream/started` reaches the browser (TTS first audio out)
- first_audio: the first decoded audio frame with sound after the reply started
- first_video_frame: the first decoded video frame whose mouth moves after the reply started
After the mouth has moved for a moment the client interrupts the avatar (barge-in) so that the
next turn can start; the partial replies stay in the history, as they would.

Writes bench/results/turn_latency.json and turn_latency.png.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time

import numpy as np

from avatars.demo import DEMO_SIZE, astronaut_png
from launcher import Stack
from launcher.microphone import load_speaker, speech
from launcher.page_recorder import mouth_box

from .harness import QUESTIONS, message_marks
from .live_client import until
from .mouth import audio_onsets, first_and_last_above, motion, motion_threshold
from .receiver import install_sender_report_capture
from .report import LoadMonitor, chart_path, pyplot, summarize, write

NAME = "turn_latency"
RATE = 16000
FRAME = 640  # samples: 40 ms
HOPS = ["transcript_final", "message_saved", "task_started", "first_token", "first_sentence_sent",
        "reply_started_seen", "avatar_started", "first_audio", "first_video_frame"]


def spoken_questions() -> dict[str, np.ndarray]:
    """Each question as Piper says it, at 16 kHz int16 (what the page's microphone sends)."""
    speaker = load_speaker()
    return {text: speech(speaker, text, RATE) for text in QUESTIONS}


class Browser:
    """One live page: the HTTP session, the WebSocket and the WebRTC peer."""

    def __init__(self, url: str, box: tuple[int, int, int, int]) -> None:
        import httpx

        self.url = url
        self.box = box
        self.http = httpx.AsyncClient(base_url=url, timeout=30, follow_redirects=False)
        self.socket = None
        self.peer = None
        self.mic_task: asyncio.Task | None = None
        self.mic_queue: list[np.ndarray] = []
        self.last_speech_sample_at: float | None = None

    async def log_in(self, username: str, password: str) -> None:
        page = await self.http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = await self.http.post("/accounts/login/", data={
            "username": username, "password": password, "csrfmiddlewaretoken": token,
        }, headers={"Referer": f"{self.url}/accounts/login/"})
        if "sessionid" not in self.http.cookies:
            raise RuntimeError(f"login failed ({response.status_code})")

    async def start_conversation(self, slug: str) -> str:
        from .live_client import LiveSocket
        from .receiver import ReceivingPeer

        response = await self.http.post(
            f"/talk/{slug}/sessions/",
            headers={"X-CSRFToken": self.http.cookies["csrftoken"], "Referer": f"{self.url}/talk/{slug}/"},
        )
        response.raise_for_status()
        conversation = response.json()["conversation"]
        port = int(self.url.rsplit(":", 1)[1])
        self.socket = await LiveSocket.open(port, conversation, self.http.cookies["sessionid"])
        offer, _ = await self.socket.expect("rtc.offer", within=60)
        self.peer = ReceivingPeer(keep_video=True, keep_audio=True, crop=self.box,
                                  on_event=self._relay_event)
        answer = await self.peer.answer(offer["sdp"], data_channel_label="JanusDataChannel")
        await self.socket.send("rtc.answer", sdp=answer)
        await self.socket.send("rtc.ice", candidate=None, sdpMid=None, sdpMLineIndex=None)
        await asyncio.wait_for(self.peer.first_video.wait(), 60)
        return conversation

    def _relay_event(self, name: str, payload: str, at: float) -> None:
        # What the page does with the avatar service's data-channel events.
        if name in ("stream/started", "stream/done", "stream/ready", "stream/error"):
            asyncio.get_running_loop().create_task(self.socket.send("avatar.event", event=name))

    # The microphone: real-time 40 ms frames, silence unless something is being said.

    def open_microphone(self) -> None:
        self.mic_task = asyncio.create_task(self._microphone())

    async def _microphone(self) -> None:
        loop = asyncio.get_running_loop()
        silence = np.zeros(FRAME, np.int16)
        next_at = loop.time()
        while True:
            if self.mic_queue:
                frame = self.mic_queue.pop(0)
                speech = bool(np.abs(frame).max() > 300)
            else:
                frame, speech = silence, False
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            await self.socket.send_audio(frame.tobytes())
            if speech:
                # The last loud sample of this frame has now been "spoken".
                loud = np.flatnonzero(np.abs(frame) > 300)
                self.last_speech_sample_at = time.time() - (FRAME - 1 - loud[-1]) / RATE
            next_at += FRAME / RATE

    def say(self, pcm: np.ndarray) -> float:
        """Queue speech on the microphone; returns when its last loud sample will have been sent."""
        padded = np.concatenate([pcm, np.zeros(-len(pcm) % FRAME, np.int16)])
        frames = [padded[i:i + FRAME] for i in range(0, len(padded), FRAME)]
        self.mic_queue.extend(frames)
        return len(frames) * FRAME / RATE

    async def close(self) -> None:
        if self.mic_task is not None:
            self.mic_task.cancel()
        if self.socket is not None:
            await self.socket.send("session.end")
            await self.socket.close()
        if self.peer is not None:
            await self.peer.close()
        await self.http.aclose()


async def one_turn(browser: Browser, *, voice: bool, text: str, pcm: np.ndarray | None,
                   idle_since: float) -> dict:
    socket, peer = browser.socket, browser.peer
    socket.seen.clear()
    events_before = len(peer.events)
    if voice:
        browser.last_speech_sample_at = None
        seconds = browser.say(pcm)
        await asyncio.sleep(seconds + 0.05)
        await until(lambda: not browser.mic_queue, within=30, every=0.02)
        await asyncio.sleep(0.05)
        origin = browser.last_speech_sample_at
    else:
        origin = await socket.send("chat.text", text=text)
    final, final_at = await socket.expect("transcript.final", within=30)
    started, started_at = await socket.expect("reply.started", within=60)
    # Wait for the avatar to start speaking, let the mouth move a moment, then cut it off.
    deadline = time.monotonic() + 60
    avatar_at = None
    while time.monotonic() < deadline and avatar_at is None:
        avatar_at = next((at for name, _, at in peer.events[events_before:]
                          if name == "stream/started"), None)
        await asyncio.sleep(0.02)
    await asyncio.sleep(1.2)
    cut_at = time.time()
    await socket.send("avatar.interrupt")
    done, _ = await socket.expect("reply.done", within=60)

    # The decoded media after the reply started.
    first_audio = first_video = None
    audio = [f for f in peer.audio if started_at - 0.5 <= f.arrival <= cut_at]
    if audio:
        samples = np.concatenate([f.data for f in audio])
        first_sample, _ = audio_onsets(samples, 48000)
        if first_sample is not None:
            sizes = np.cumsum([len(f.data) for f in audio])
            index = min(int(np.searchsorted(sizes, first_sample, side="right")), len(audio) - 1)
            first_audio = audio[index].arrival
    video = sorted((f for f in peer.video if idle_since <= f.arrival <= cut_at), key=lambda f: f.pts)
    moves = motion([f.data for f in video])
    idle = [i for i, f in enumerate(video) if i and f.arrival < min(started_at, origin or started_at)]
    # The mouth cannot move for the reply before its audio starts: look from a little before
    # the avatar's `stream/started` (or from `reply.started` if that never came).
    look_from = (avatar_at - 0.3) if avatar_at else started_at
    talk_from = next((i for i, f in enumerate(video) if f.arrival >= look_from), len(video))
    threshold = motion_threshold(moves[idle] if idle else np.array([]))
    first_frame, _ = first_and_last_above(moves, threshold, max(1, talk_from))
    if first_frame is not None:
        first_video = video[first_frame].arrival
    talking = video[talk_from:]
    span = (talking[-1].arrival - talking[0].arrival) if len(talking) > 1 else 0.0
    skipped = sum(max(0, (b.pts - a.pts) // 3600 - 1) for a, b in zip(talking, talking[1:], strict=False))
    diagnostics = {
        "interims_ms": [round((at - origin) * 1000) for m, at in socket.seen
                        if m["type"] == "transcript.interim" and origin][:12],
        "video_fps_after_reply_started": round((len(talking) - 1) / span, 1) if span else None,
        "frames_skipped_after_reply_started": int(skipped),
        "max_motion_after_reply_started": round(float(moves[talk_from:].max()), 2)
        if len(moves[talk_from:]) else None,
        "motion_after_avatar_started": [round(float(m), 1) for f, m in zip(video, moves, strict=True)
                                        if avatar_at and avatar_at - 0.2 <= f.arrival <= avatar_at + 1.0],
    }
    peer.forget_before(cut_at)
    return {
        "mode": "voice" if voice else "typed", "asked": text, "heard": final["text"],
        "question_id": final["message_id"], "reply_id": started["message_id"],
        "origin": origin, "transcript_final": final_at, "reply_started_seen": started_at,
        "avatar_started": avatar_at, "first_audio": first_audio, "first_video_frame": first_video,
        "motion_threshold": round(threshold, 2), "page_timings": done.get("timings"),
        "diagnostics": diagnostics,
    }


def join(turns: list[dict], marks: dict[int, dict]) -> list[dict]:
    rows = []
    for turn in turns:
        question, reply = marks.get(turn["question_id"], {}), marks.get(turn["reply_id"], {})
        origin = turn["origin"]
        at = {
            "transcript_final": turn["transcript_final"],
            "message_saved": question.get("transcript_final_at"),
            "task_started": reply.get("task_started_at"),
            "first_token": reply.get("first_token_at"),
            "first_sentence_sent": reply.get("first_sentence_sent_at"),
            "reply_started_seen": turn["reply_started_seen"],
            "avatar_started": turn["avatar_started"],
            "first_audio": turn["first_audio"],
            "first_video_frame": turn["first_video_frame"],
        }
        hops = {k: (None if v is None or origin is None else round((v - origin) * 1000, 1))
                for k, v in at.items()}
        speech_end_estimate = question.get("speech_end_at")
        rows.append({
            "mode": turn["mode"], "asked": turn["asked"], "heard": turn["heard"],
            "reply": reply.get("text", "")[:200],
            "ms_from_origin": hops,
            "server_speech_end_error_ms": None if speech_end_estimate is None or origin is None
            else round((speech_end_estimate - origin) * 1000, 1),
            "page_timings": turn["page_timings"],
            "motion_threshold": turn["motion_threshold"],
            "diagnostics": turn["diagnostics"],
        })
    return rows


def chart(voice: list[dict], typed: list[dict], path) -> None:
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(11, 4.8))
    labels = {"transcript_final": "transcript final", "task_started": "Celery pickup",
              "first_token": "LLM first token", "first_sentence_sent": "first sentence sent",
              "avatar_started": "avatar started (TTS out)", "first_video_frame": "first moving frame"}
    colours = plt.cm.viridis(np.linspace(0, 0.9, len(labels)))
    for row, rows in enumerate((typed, voice)):
        previous = 0.0
        for (key, label), colour in zip(labels.items(), colours, strict=True):
            stats = summarize(r["ms_from_origin"][key] for r in rows)
            if not stats.get("n"):
                continue
            p50 = stats["p50"]
            axis.barh(row, max(0.0, p50 - previous), left=previous, color=colour,
                      label=label if row == 1 else None, edgecolor="white")
            previous = max(previous, p50)
        total = summarize(r["ms_from_origin"]["first_video_frame"] for r in rows)
        if total.get("n"):
            axis.text(previous + 30, row, f"p50 {total['p50']:.0f} ms · p90 {total['p90']:.0f} ms",
                      va="center", fontsize=9)
    axis.set_yticks([0, 1], ["typed text", "voice"])
    axis.set_xlabel("ms after the end of speech / sending the text (p50 of each hop)")
    axis.set_title("Turn latency on the local product, by hop (Python client, not Chromium)")
    axis.legend(fontsize=8, loc="lower right", ncol=2)
    axis.grid(alpha=0.3, axis="x")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


async def run_turns(stack, box, questions: dict[str, np.ndarray], *, turns: int,
                    per_conversation: int, budget: float) -> tuple[list[dict], list[str]]:
    """Voice turns, then typed turns; each mode gets half of `budget` seconds at most, so a
    starved machine yields fewer turns rather than no results."""
    collected: list[dict] = []
    failures: list[str] = []
    for voice in (True, False):
        done = 0
        mode_deadline = time.monotonic() + budget / 2
        while done < turns and time.monotonic() < mode_deadline:
            browser = Browser(stack.url, box)
            try:
                await browser.log_in("demo", stack.credentials["demo"])
                await browser.start_conversation("astronaut")
                if voice:
                    browser.open_microphone()
                await asyncio.sleep(2.0)
                for _ in range(min(per_conversation, turns - done)):
                    if time.monotonic() > mode_deadline:
                        failures.append(f"{'voice' if voice else 'typed'}: time budget spent "
                                        f"after {done} turns")
                        break
                    text = QUESTIONS[done % len(QUESTIONS)]
                    idle_since = time.time() - 1.5
                    try:
                        turn = await one_turn(browser, voice=voice, text=text,
                                              pcm=questions[text], idle_since=idle_since)
                        collected.append(turn)
                    except Exception as exc:  # one stuck turn must not end the benchmark
                        failures.append(f"{'voice' if voice else 'typed'} turn {done}: "
                                        f"{type(exc).__name__}: {exc}"[:300])
                    done += 1
                    print(f"{'voice' if voice else 'typed'} turn {done}/{turns}", flush=True)
                    await asyncio.sleep(1.5)
            except Exception as exc:
                failures.append(f"conversation: {type(exc).__name__}: {exc}"[:300])
                done += per_conversation
            finally:
                await browser.close()
    return collected, failures


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20, help="turns per mode (voice, typed)")
    parser.add_argument("--per-conversation", type=int, default=5)
    parser.add_argument("--budget", type=float, default=560,
                        help="seconds of turns at most (half per mode); fewer turns if slower")
    args = parser.parse_args(argv)

    install_sender_report_capture()
    questions = spoken_questions()
    box = mouth_box(astronaut_png(), DEMO_SIZE)
    with LoadMonitor() as load, Stack(name="bench-turn-latency") as stack:
        started = time.monotonic()
        turns, failures = asyncio.run(run_turns(stack, box, questions, turns=args.turns,
                                                per_conversation=args.per_conversation,
                                                budget=args.budget))
        ids = [t["question_id"] for t in turns] + [t["reply_id"] for t in turns]
        marks = message_marks(stack, ids) if ids else {}
        elapsed = time.monotonic() - started
    rows = join(turns, marks)
    voice = [r for r in rows if r["mode"] == "voice"]
    typed = [r for r in rows if r["mode"] == "typed"]

    def hop_stats(rows: list[dict]) -> dict:
        return {hop: summarize(r["ms_from_origin"][hop] for r in rows) for hop in HOPS}

    voice_stats, typed_stats = hop_stats(voice), hop_stats(typed)
    path = chart_path(NAME)
    chart(voice, typed, path)
    report = {
        "client": "python: websockets to daphne + aiortc receiving peer (not Chromium)",
        "setup": {"product": "launcher.Stack (the Procfile: daphne, Celery worker + beat, "
                             "manage.py run_engine with whisper tiny.en, SmolLM2-135M, Piper)",
                  "avatar": "astronaut (D-ID Talks on the local engine, 512 px)",
                  "turns_per_mode": args.turns, "turns_per_conversation": args.per_conversation,
                  "mic": "Piper speech, 16 kHz PCM16, 40 ms frames in real time, then silence",
                  "seconds": round(elapsed, 1)},
        "voice_ms": voice_stats,
        "typed_ms": typed_stats,
        "server_speech_end_error_ms": summarize(r["server_speech_end_error_ms"] for r in voice),
        "failures": failures,
        "summary": {
            "voice: speech end→first moving frame p50 ms": voice_stats["first_video_frame"].get("p50"),
            "voice: speech end→first moving frame p90 ms": voice_stats["first_video_frame"].get("p90"),
            "typed: send→first moving frame p50 ms": typed_stats["first_video_frame"].get("p50"),
            "typed: send→first moving frame p90 ms": typed_stats["first_video_frame"].get("p90"),
            "voice: speech end→transcript final p50 ms": voice_stats["transcript_final"].get("p50"),
            "turns failed": len(failures),
        },
        "meaning": __doc__,
        "chart": path.name,
        "turns": rows,
    }
    out = write(NAME, report, load=load)
    print(f"wrote {out} and {path}")
    return report


if __name__ == "__main__":
    main()
