"""Our own overhead on the cloud path: what daphne, Redis, Celery and our code add to a turn when
the vendors answer instantly.

    .venv/bin/python -m bench.cloud_overhead_bench [--turns 100] [--warmup 5]

Starts a private Redis, a throwaway database, daphne and the Celery workers (`worker` and
`replies`, as the Procfile runs them), and an instant D-ID/Groq/Deepgram stub on loopback
(bench/provider_stub.py) that the settings point at. A real WebSocket client plays the browser. Measured, per turn, on one clock:

(a) final transcript -> LLM request: from the moment the stub's Deepgram sends a `speech_final`
    result until the stub's Groq receives the chat completion request (the consumer saves the
    user Message, enqueues `generate_reply`, a worker picks it up, loads the conversation, builds
    the prompt, opens the stream). The same for typed text: from `chat.text` leaving the client.
(b) sentence complete -> avatar POST: from the stub writing the SSE chunk that completes a
    sentence (found by running our own SentenceSplitter over the scripted chunks) until the
    stub's D-ID receives `POST /talks/streams/{id}` with that sentence; the first sentence of a
    reply (which also saves the first-token mark) and later ones are reported apart.

The hop marks the product saves on its Message rows split (a) and (b) further. Writes
bench/results/cloud_overhead.json and cloud_overhead.png.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from launcher.backing import free_port

from .harness import bench_avatar, bench_stack, new_conversation, session_cookie
from .provider_stub import ANSWER_SDP, ProviderStub
from .report import LoadMonitor, chart_path, pyplot, summarize, write

NAME = "cloud_overhead"
CHUNK_GAP = 0.02  # seconds between streamed LLM chunks: a fast cloud model's pace


def tag_of(question: str) -> str:
    """Letters for the digits of a question, so each reply's sentences are unique and no digit
    sits before a full stop (the splitter treats "17." as a number, not a sentence end)."""
    digits = "".join(chr(ord("a") + int(d)) for d in question if d.isdigit())
    return question[:1].lower() + digits + chr(ord("a") + len(question) % 26)


def reply_for(question: str) -> list[str]:
    tag = tag_of(question)
    return ["Sure, reply", f" {tag} is here. ", "It comes in", f" parts for {tag}. ",
            "And this is", f" the end of {tag}. "]


def sentence_completions(chunks: list[str]) -> list[tuple[str, int]]:
    """(sentence, index of the chunk that completes it), as the product's splitter cuts them."""
    from streaming.providers.avatar.did import MAX_TEXT_CHARS
    from streaming.sentences import SentenceSplitter

    splitter = SentenceSplitter(max_chars=MAX_TEXT_CHARS, clause_first=True)  # as replies.py
    done = []
    for index, chunk in enumerate(chunks):
        done.extend((sentence, index) for sentence in splitter.feed(chunk))
    # What the splitter still holds is said when the LLM stream ends (the task flushes it then),
    # which is when the last chunk arrived.
    done.extend((sentence, len(chunks) - 1) for sentence in splitter.flush())
    return done


def ms(later: float | None, earlier: float | None) -> float | None:
    if later is None or earlier is None:
        return None
    return (later - earlier) * 1000


def _ts(value) -> float | None:
    return value.timestamp() if value is not None else None


async def run_turns(port: int, stub, cookie: str, conversation, *, turns: int, warmup: int,
                    voice: bool) -> list[dict]:
    from .live_client import LiveSocket

    socket = await LiveSocket.open(port, conversation.pk, cookie)
    await socket.expect("rtc.offer")
    await socket.send("rtc.answer", sdp=ANSWER_SDP)
    rows = []
    for n in range(warmup + turns):
        socket.seen.clear()
        if voice:
            sent_at = await socket.send_audio(bytes(3200))  # 100 ms of "speech"; the stub ends it
        else:
            question = f"Typed question {n}, please?"
            sent_at = await socket.send("chat.text", text=question)
        final, final_seen = await socket.expect("transcript.final")
        started, started_seen = await socket.expect("reply.started")
        done, done_seen = await socket.expect("reply.done")
        delta_seen = next((at for m, at in socket.seen if m["type"] == "reply.delta"), None)
        if n < warmup:
            continue
        text = final["text"]
        origin = stub.finals.get(text) if voice else sent_at
        rows.append({
            "question": text, "question_id": final["message_id"], "reply_id": started["message_id"],
            "origin": origin, "final_seen": final_seen, "started_seen": started_seen,
            "first_delta_seen": delta_seen, "done_seen": done_seen, "timings": done["timings"],
        })
    await socket.send("session.end")
    await socket.close()
    return rows


def analyse(rows: list[dict], stub) -> list[dict]:
    """Join the client's, the stub's and the database's marks of each turn."""
    from conversations.models import Message

    messages = Message.objects.in_bulk([r["question_id"] for r in rows] + [r["reply_id"] for r in rows])
    speaks = {c.body["script"]["input"]: c.at for c in stub.speak_calls()}
    turns = []
    for row in rows:
        question, reply = messages[row["question_id"]], messages[row["reply_id"]]
        llm = stub.replies.get(row["question"])
        origin = row["origin"]
        sentences = []
        if llm is not None:
            for index, (sentence, chunk) in enumerate(sentence_completions(llm.chunks)):
                completed = llm.sent_at[chunk] if chunk < len(llm.sent_at) else None
                sentences.append({"index": index, "complete_to_post_ms": ms(speaks.get(sentence), completed)})
        first_chunk = llm.sent_at[0] if llm and llm.sent_at else None
        first_sentence_chunk = (
            llm.sent_at[sentence_completions(llm.chunks)[0][1]] if llm and llm.sent_at else None
        )
        turns.append({
            "final_to_llm_request_ms": ms(llm.requested_at if llm else None, origin),
            "hops_ms": {
                "user_message_saved": ms(_ts(question.transcript_final_at), origin),
                "task_started": ms(_ts(reply.task_started_at), origin),
                "llm_request_received": ms(llm.requested_at if llm else None, origin),
                "first_chunk_to_first_token_mark": ms(_ts(reply.first_token_at), first_chunk),
                "sentence_complete_to_first_sentence_mark": ms(
                    _ts(reply.first_sentence_sent_at), first_sentence_chunk),
            },
            "browser_ms": {
                "transcript_final": ms(row["final_seen"], origin),
                "reply_started": ms(row["started_seen"], origin),
                "first_reply_delta": ms(row["first_delta_seen"], origin),
                "reply_done": ms(row["done_seen"], origin),
            },
            "sentences": sentences,
        })
    return turns


def summarize_turns(turns: list[dict]) -> dict:
    hops = {k: summarize(t["hops_ms"][k] for t in turns) for k in turns[0]["hops_ms"]}
    browser = {k: summarize(t["browser_ms"][k] for t in turns) for k in turns[0]["browser_ms"]}
    first = [s["complete_to_post_ms"] for t in turns for s in t["sentences"] if s["index"] == 0]
    later = [s["complete_to_post_ms"] for t in turns for s in t["sentences"] if s["index"] > 0]
    return {
        "final_to_llm_request_ms": summarize(t["final_to_llm_request_ms"] for t in turns),
        "sentence_complete_to_avatar_post_ms": {
            "first_sentence": summarize(first), "later_sentences": summarize(later),
            "all": summarize(first + later),
        },
        "hops_ms": hops,
        "browser_sees_ms": browser,
    }


def chart(voice: list[dict], typed: list[dict], path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))

    def cdf(axis, values, label):
        values = sorted(v for v in values if v is not None)
        if values:
            axis.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post",
                      label=f"{label} (p50 {values[len(values) // 2]:.1f} ms)")

    cdf(left, [t["final_to_llm_request_ms"] for t in voice], "voice: speech_final sent")
    cdf(left, [t["final_to_llm_request_ms"] for t in typed], "typed: chat.text sent")
    left.set_title("(a) final transcript → LLM request received")
    first = [s["complete_to_post_ms"] for t in voice + typed for s in t["sentences"] if s["index"] == 0]
    later = [s["complete_to_post_ms"] for t in voice + typed for s in t["sentences"] if s["index"] > 0]
    cdf(right, first, "first sentence")
    cdf(right, later, "later sentences")
    right.set_title("(b) sentence complete → avatar POST received")
    for axis in (left, right):
        axis.set_xlabel("ms")
        axis.set_ylabel("fraction of turns")
        axis.grid(alpha=0.3)
        axis.legend(loc="lower right", fontsize=8)
    fig.suptitle("Our overhead on the cloud path (vendors replaced by an instant loopback stub)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args(argv)

    stub = ProviderStub(chunk_gap=CHUNK_GAP, reply_for=reply_for, final_every=3200,
                        final_text=lambda conn, n: f"Voice question {conn} {n}, please?")
    stub_port = free_port()
    stub.port = stub_port
    with LoadMonitor() as load, bench_stack(NAME, ["web", "worker", "replies"],
                                            env=stub.provider_env()) as stack:
        port = stack.port
        user, avatar = bench_avatar()
        cookie = session_cookie(user)
        voice_conversation = new_conversation(user, avatar)
        typed_conversation = new_conversation(user, avatar)

        async def run() -> tuple[list[dict], list[dict]]:
            await stub.start(stub_port)
            try:
                voice = await run_turns(port, stub, cookie, voice_conversation,
                                        turns=args.turns, warmup=args.warmup, voice=True)
                typed = await run_turns(port, stub, cookie, typed_conversation,
                                        turns=args.turns, warmup=args.warmup, voice=False)
                await asyncio.sleep(0.5)
                return voice, typed
            finally:
                await stub.stop()

        started = time.monotonic()
        voice_rows, typed_rows = asyncio.run(run())
        voice, typed = analyse(voice_rows, stub), analyse(typed_rows, stub)
        elapsed = time.monotonic() - started
        database = stack.database_kind

    voice_summary, typed_summary = summarize_turns(voice), summarize_turns(typed)
    path = chart_path(NAME)
    chart(voice, typed, path)
    a, b = voice_summary["final_to_llm_request_ms"], voice_summary["sentence_complete_to_avatar_post_ms"]
    report = {
        "setup": {
            "processes": "daphne + Celery worker (prefork, concurrency 2) + private redis-server; "
                         "vendors: aiohttp stub on loopback (real HTTP/WebSocket)",
            "database": database,
            "turns_per_mode": args.turns, "warmup_turns": args.warmup,
            "llm_chunk_gap_s": CHUNK_GAP, "sentences_per_reply": 3,
            "seconds": round(elapsed, 1),
        },
        "voice": voice_summary,
        "typed": typed_summary,
        "summary": {
            "final→LLM request p50 ms": a.get("p50"), "final→LLM request p99 ms": a.get("p99"),
            "typed→LLM request p50 ms": typed_summary["final_to_llm_request_ms"].get("p50"),
            "typed→LLM request p99 ms": typed_summary["final_to_llm_request_ms"].get("p99"),
            "sentence→avatar POST p50 ms": b["all"].get("p50"),
            "sentence→avatar POST p99 ms": b["all"].get("p99"),
        },
        "meaning": __doc__,
        "chart": path.name,
        "turns": {"voice": voice, "typed": typed},
    }
    out = write(NAME, report, load=load)
    print(f"wrote {out} and {path}")
    return report


if __name__ == "__main__":
    main()
