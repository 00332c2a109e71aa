"""How many simultaneous live-session WebSockets one daphne process holds with a p99 relay under
100 ms, with the providers replaced by an instant stub.

    .venv/bin/python -m bench.ws_capacity_bench [--levels 10,25,50,100,200] [--seconds 10]

For each level N, N sessions are opened (each gets its stream offer and answers it); once every
session is past its start-up, for `--seconds` each one pings twice a second (at a random phase)
and the round trip ping -> pong is timed. Two workloads:
- "signaling": pings only (an open page whose user is not speaking);
- "mic": the page also streams its microphone as the live page does, 16 kHz PCM16 in 40 ms
  frames in real time, which the consumer relays to (stub) Deepgram; the stub answers an interim
  transcript per second of audio, and that relay (stub sends -> browser receives
  `transcript.interim`) is timed too.
A level "holds" when the ping p99 stays under 100 ms, no pong is lost and (mic) the relayed audio
keeps up with real time. The browsers run in a separate client process and the stub in this one;
all three share the machine's two cores, as they would not in production, so the CPU use of
daphne, the client process and the stub is reported per level: read the limit with it.

Writes bench/results/ws_capacity.json and ws_capacity.png.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
from pathlib import Path

from launcher import Stack
from launcher.backing import free_port
from launcher.stack import BASE_DIR

from .harness import CpuSampler, bench_avatar, bench_stack, new_conversation, session_cookie
from .report import LoadMonitor, chart_path, pyplot, summarize, write

NAME = "ws_capacity"
P99_LIMIT_MS = 100.0
PING_EVERY = 0.5
FRAME_SECONDS = 0.040
FRAME_BYTES = int(16000 * FRAME_SECONDS) * 2
OPEN_CONCURRENCY = 20
WARM_UP_LIMIT = 30.0


# -- the client process: N browsers --------------------------------------------------------------


async def browsers(port: int, cookie: str, ids: list[str], *, mic: bool, seconds: float) -> dict:
    from .live_client import LiveSocket, until
    from .provider_stub import ANSWER_SDP

    n = len(ids)
    gate = asyncio.Semaphore(OPEN_CONCURRENCY)
    open_times: list[float] = []

    async def open_one(conversation_id: str) -> LiveSocket:
        async with gate:
            started = time.time()
            socket = await LiveSocket.open(port, conversation_id, cookie, open_timeout=60)
            _, offer_at = await socket.expect("rtc.offer", within=60)
            open_times.append((offer_at - started) * 1000)
            await socket.send("rtc.answer", sdp=ANSWER_SDP)
            return socket

    opened_at = time.monotonic()
    sockets = await asyncio.gather(*(open_one(c) for c in ids))
    open_seconds = time.monotonic() - opened_at

    rtts: list[float] = []
    relays: list[float] = []
    sent: dict[tuple[int, int], float] = {}
    measuring = {"on": False}
    warmed: set[int] = set()  # sessions past start-up (a pong seen; with mic, a transcript)

    for index, socket in enumerate(sockets):
        def on_pong(message: dict, at: float, index=index) -> None:
            started = sent.pop((index, message["t"]), None)
            if not mic:
                warmed.add(index)
            if started is not None and measuring["on"]:
                rtts.append((at - started) * 1000)

        def on_interim(message: dict, at: float, index=index) -> None:
            warmed.add(index)
            stub_sent = float(message["text"].rsplit(" at ", 1)[1])
            if measuring["on"]:
                relays.append((at - stub_sent) * 1000)

        socket.handlers["pong"] = on_pong
        socket.handlers["transcript.interim"] = on_interim
        socket.handlers["avatar.state"] = lambda message, at: None

    frames_sent = [0]

    async def session(index: int, socket: LiveSocket, stop: dict) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        next_ping = start + random.uniform(0, PING_EVERY)
        next_frame = start + random.uniform(0, FRAME_SECONDS)
        seq = 0
        frame = bytes(FRAME_BYTES)
        while (now := loop.time()) < stop["at"]:
            if mic and now >= next_frame:
                await socket.send_audio(frame)
                if measuring["on"]:
                    frames_sent[0] += 1
                next_frame = max(next_frame + FRAME_SECONDS, now - 5 * FRAME_SECONDS)
            if now >= next_ping:
                sent[(index, seq)] = time.time()
                await socket.send("ping", t=seq)
                seq += 1
                next_ping += PING_EVERY
            wake = min(next_ping, next_frame) if mic else next_ping
            await asyncio.sleep(max(0.0, wake - loop.time()))

    # Start-up (each session's first audio opens its STT connection) is not the steady state
    # measured here: run until every session is warmed up, then measure.
    loop = asyncio.get_running_loop()
    stop = {"at": loop.time() + 3600}
    tasks = [asyncio.create_task(session(i, s, stop)) for i, s in enumerate(sockets)]
    warm_started = loop.time()
    await until(lambda: len(warmed) >= n, within=WARM_UP_LIMIT, every=0.1)
    await asyncio.sleep(0.5)
    warm_up_seconds = loop.time() - warm_started
    sent.clear()
    measuring["on"] = True
    window = [time.time(), 0.0]
    cpu_before = time.process_time()
    stop["at"] = loop.time() + seconds
    await asyncio.gather(*tasks)
    window[1] = time.time()
    cpu_client = time.process_time() - cpu_before
    await asyncio.sleep(2.0)  # late pongs still count, as late
    measuring["on"] = False
    lost = len(sent)
    errors = sum(1 for s in sockets for m, _ in s.seen if m["type"] == "error")
    closed_early = sum(1 for s in sockets if s.closed_with is not None)

    async def close(socket: LiveSocket) -> None:
        async with gate:
            await socket.send("session.end")
            await socket.close()

    await asyncio.gather(*(close(s) for s in sockets), return_exceptions=True)
    return {
        "open_all_seconds": round(open_seconds, 2),
        "connect_to_offer_ms": summarize(open_times),
        "warm_up_seconds": round(warm_up_seconds, 2), "warmed_sessions": len(warmed),
        "window": window,
        "rtts": rtts, "relays": relays, "lost": lost, "frames_sent": frames_sent[0],
        "errors": errors, "sockets_closed_early": closed_early,
        "client_cpu_percent": round(100 * cpu_client / (window[1] - window[0]), 1),
    }


def client_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(browsers(spec["port"], spec["cookie"], spec["ids"], mic=spec["mic"],
                                  seconds=spec["seconds"]))
    Path(spec["out"]).write_text(json.dumps(result))


# -- the benchmark process: daphne, the stub, the levels -----------------------------------------


async def run_level(stack: Stack, stub, port: int, cookie: str, user, avatar, cpu: CpuSampler,
                    n: int, *, mic: bool, seconds: float) -> dict:
    from asgiref.sync import sync_to_async

    conversations = await sync_to_async(lambda: [new_conversation(user, avatar) for _ in range(n)])()
    ids = [str(c.pk) for c in conversations]
    spec = stack.tmp / f"client-{n}-{int(mic)}.json"
    out = stack.tmp / f"client-{n}-{int(mic)}.out.json"
    spec.write_text(json.dumps({"port": port, "cookie": cookie, "ids": ids, "mic": mic,
                                "seconds": seconds, "out": str(out)}))
    audio_before = stub.audio_bytes
    client = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bench.ws_capacity_bench", "--client", str(spec), cwd=BASE_DIR,
        env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
    )
    try:
        await asyncio.wait_for(client.wait(), timeout=seconds + WARM_UP_LIMIT + 3 * n + 120)
    finally:
        if client.returncode is None:
            client.kill()
            await client.wait()
    if client.returncode != 0 or not out.exists():
        raise RuntimeError(f"the client process failed ({client.returncode})")
    found = json.loads(out.read_text())
    audio_relayed = stub.audio_bytes - audio_before
    closing = time.monotonic()
    ended = await wait_until_ended(ids, within=60)
    teardown_seconds = time.monotonic() - closing
    start, end = found["window"]
    usage = cpu.percent(start, end)
    ping = summarize(found["rtts"])
    audio_share = None
    if mic and found["frames_sent"]:
        # audio the stub received over the whole level vs what the client sent while measured is
        # not comparable; compare the client's measured frames with its real-time target instead
        audio_share = round(found["frames_sent"] / (n * seconds / FRAME_SECONDS), 3)
    holds = (bool(ping.get("n")) and ping["p99"] < P99_LIMIT_MS and found["lost"] == 0
             and not found["sockets_closed_early"] and (audio_share is None or audio_share >= 0.95))
    return {
        "sessions": n, "workload": "mic" if mic else "signaling",
        "open_all_seconds": found["open_all_seconds"],
        "connect_to_offer_ms": found["connect_to_offer_ms"],
        "warm_up_seconds": found["warm_up_seconds"], "warmed_sessions": found["warmed_sessions"],
        "pongs_timed": len(found["rtts"]), "pongs_lost": found["lost"],
        "ping_pong_ms": ping,
        "transcript_relay_ms": summarize(found["relays"]) if mic else None,
        "mic_frames_sent_share_of_real_time": audio_share,
        "stub_audio_bytes_over_level": audio_relayed if mic else None,
        "daphne_cpu_percent": usage.get("daphne"),
        "daphne_cpu_percent_per_session": round(usage["daphne"] / n, 2)
        if usage.get("daphne") is not None else None,
        "client_cpu_percent": found["client_cpu_percent"],
        "stub_cpu_percent": usage.get("stub"),
        "teardown_seconds": round(teardown_seconds, 2), "all_ended": ended,
        "errors": found["errors"], "sockets_closed_early": found["sockets_closed_early"],
        "holds": holds,
    }


async def wait_until_ended(ids: list, *, within: float) -> bool:
    """The consumers end their conversations and close their provider streams after the socket
    closes; waiting for that keeps one level's teardown from loading the next."""
    from conversations.models import Conversation

    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        still_open = await Conversation.objects.filter(
            pk__in=ids, status__in=Conversation.OPEN_STATUSES).acount()
        unclosed = await Conversation.objects.filter(
            pk__in=ids, stream_closed_at__isnull=True).exclude(provider_stream_id="").acount()
        if not still_open and not unclosed:
            return True
        await asyncio.sleep(0.2)
    return False


def chart(levels: list[dict], path) -> None:
    plt = pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for workload, colour in (("signaling", "tab:blue"), ("mic", "tab:orange")):
        rows = [r for r in levels if r["workload"] == workload and r["ping_pong_ms"].get("n")]
        if not rows:
            continue
        x = [r["sessions"] for r in rows]
        left.plot(x, [r["ping_pong_ms"]["p99"] for r in rows], "o-", color=colour,
                  label=f"{workload}: p99")
        left.plot(x, [r["ping_pong_ms"]["p50"] for r in rows], "o--", color=colour, alpha=0.6,
                  label=f"{workload}: p50")
        right.plot(x, [r["daphne_cpu_percent"] for r in rows], "o-", color=colour,
                   label=f"daphne ({workload})")
        right.plot(x, [r["client_cpu_percent"] for r in rows], "x:", color=colour, alpha=0.6,
                   label=f"client process ({workload})")
    left.axhline(P99_LIMIT_MS, color="red", lw=1, ls=":", label="100 ms")
    left.set_yscale("log")
    left.set_ylabel("ping → pong, ms (log)")
    left.set_title("Relay round trip vs simultaneous sessions")
    right.axhline(100, color="grey", lw=1, ls=":")
    right.set_ylabel("CPU, % of one core")
    right.set_title("CPU use while measured")
    for axis in (left, right):
        axis.set_xscale("log")
        axis.set_xlabel("simultaneous sessions")
        axis.grid(alpha=0.3, which="both")
        axis.legend(fontsize=7)
    fig.suptitle("One daphne process, instant provider stub, 2 shared cores")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,25,50,100,200")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workloads", default="signaling,mic")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # internal: run the browsers
    args = parser.parse_args(argv)
    if args.client:
        client_main(args.client)
        return None
    levels = [int(x) for x in args.levels.split(",")]
    workloads = args.workloads.split(",")

    from .provider_stub import ProviderStub

    stub = ProviderStub(interim_every=32000)
    stub.port = free_port()
    results: list[dict] = []
    with LoadMonitor() as load, bench_stack(NAME, ["web"], env=stub.provider_env()) as stack:
        port = stack.port
        user, avatar = bench_avatar()
        cookie = session_cookie(user)
        pids = {"daphne": stack.pid("web"), "stub": os.getpid()}

        async def run() -> None:
            await stub.start(stub.port)
            try:
                with CpuSampler(pids) as cpu:
                    for workload in workloads:
                        for n in levels:
                            started = time.monotonic()
                            try:
                                row = await run_level(stack, stub, port, cookie, user, avatar,
                                                      cpu, n, mic=workload == "mic",
                                                      seconds=args.seconds)
                            except Exception as exc:  # a level that cannot even open is a result
                                row = {"sessions": n, "workload": workload, "holds": False,
                                       "ping_pong_ms": {"n": 0}, "daphne_cpu_percent": None,
                                       "client_cpu_percent": None,
                                       "failed": f"{type(exc).__name__}: {exc}"[:300]}
                            row["level_seconds"] = round(time.monotonic() - started, 1)
                            results.append(row)
                            ping = row["ping_pong_ms"]
                            print(f"{workload:>9} {n:>4} sessions: ping p50 {ping.get('p50')} "
                                  f"p99 {ping.get('p99')} ms, lost {row.get('pongs_lost')}, "
                                  f"daphne {row.get('daphne_cpu_percent')}% client "
                                  f"{row.get('client_cpu_percent')}% holds={row['holds']}",
                                  flush=True)
                            await asyncio.sleep(1.0)
                            if not row["holds"] and (ping.get("p99") or 1e9) > 5 * P99_LIMIT_MS:
                                break  # far past the limit: larger levels only take longer to fail
            finally:
                await stub.stop()

        asyncio.run(run())
        database = stack.database_kind

    held = {w: max((r["sessions"] for r in results if r["workload"] == w and r["holds"]),
                   default=0) for w in workloads}
    # CPU per session is the number that survives a busy machine: a starved daphne misses its
    # latency target long before it uses a whole core. Taken from the levels that held (a
    # starved level shows what daphne got, not what it needed).
    per_session: dict[str, float | None] = {}
    for w in workloads:
        shares = sorted(r["daphne_cpu_percent_per_session"] for r in results
                        if r["workload"] == w and r["holds"] and r.get("daphne_cpu_percent_per_session"))
        per_session[w] = shares[len(shares) // 2] if shares else None
    path = chart_path(NAME)
    chart(results, path)
    report = {
        "setup": {"processes": "one daphne + private redis-server; D-ID/Deepgram stub in the "
                               "benchmark process; the browsers in a separate client process; "
                               "all on the same 2 cores",
                  "database": database, "seconds_per_level": args.seconds,
                  "ping_every_s": PING_EVERY, "mic_frame_ms": FRAME_SECONDS * 1000,
                  "p99_limit_ms": P99_LIMIT_MS},
        "sessions_held": held,
        "levels": results,
        "daphne_cpu_percent_per_session": per_session,
        "summary": {f"sessions held ({w}, p99<100ms)": held[w] for w in workloads}
        | {f"daphne CPU % of a core per {w} session": per_session[w] for w in workloads}
        | {f"projected {w} sessions per free daphne core": round(100 / per_session[w])
           for w in workloads if per_session[w]},
        "meaning": __doc__,
        "chart": path.name,
    }
    out = write(NAME, report, load=load)
    print(f"wrote {out} and {path}")
    return report


if __name__ == "__main__":
    main()
