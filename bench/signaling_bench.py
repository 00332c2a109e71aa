"""Signaling relay: how long the browser's WebRTC signaling takes to pass through daphne and our
consumer to the avatar provider, against a real daphne process and an instant provider stub.

    .venv/bin/python -m bench.signaling_bench [--repeats 200] [--sessions 30]

Measured on one clock (the client and the stub live in the benchmark process):
- ping -> pong: a round trip through daphne and the consumer (no provider involved);
- rtc.ice -> provider: from the client sending a trickled candidate until the stub's D-ID
  receives `POST /talks/streams/{id}/ice` (parse, validate, httpx POST);
- rtc.answer -> provider: the same for the SDP answer (`POST .../sdp`);
- session opening: WebSocket connect -> `session.created` and -> `rtc.offer` (authorize, load the
  conversation, the per-user limit query, `POST /talks/streams`, save the stream handles).

Writes bench/results/signaling.json and signaling.png.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from launcher.backing import free_port

from .harness import bench_avatar, bench_stack, new_conversation, session_cookie
from .provider_stub import ANSWER_SDP, CANDIDATE, ProviderStub
from .report import LoadMonitor, chart_path, pyplot, summarize, write

NAME = "signaling"
GAP = 0.01  # seconds between probes, so each one meets an idle socket


async def measure(port: int, stub: ProviderStub, cookie: str, conversations: list,
                  repeats: int) -> dict[str, list[float]]:
    from .live_client import LiveSocket

    found: dict[str, list[float]] = {"ping_pong_ms": [], "ice_to_provider_ms": [],
                                     "answer_to_provider_ms": [], "connect_ms": [],
                                     "connect_to_session_created_ms": [],
                                     "connect_to_offer_ms": []}
    for conversation in conversations[1:]:
        started = time.time()
        socket = await LiveSocket.open(port, conversation.pk, cookie)
        opened = time.time()
        _, created_at = await socket.expect("session.created")
        _, offer_at = await socket.expect("rtc.offer")
        found["connect_ms"].append((opened - started) * 1000)
        found["connect_to_session_created_ms"].append((created_at - started) * 1000)
        found["connect_to_offer_ms"].append((offer_at - started) * 1000)
        await socket.send("session.end")
        await socket.close()

    socket = await LiveSocket.open(port, conversations[0].pk, cookie)
    await socket.expect("rtc.offer")
    for n in range(repeats):
        sent = await socket.send("ping", t=n)
        pong, at = await socket.expect("pong")
        assert pong["t"] == n
        found["ping_pong_ms"].append((at - sent) * 1000)
        await asyncio.sleep(GAP)
    for _ in range(repeats):
        arrived = stub.expect_call("POST", "/ice")
        sent = await socket.send("rtc.ice", candidate=CANDIDATE, sdpMid="0", sdpMLineIndex=0)
        call = await asyncio.wait_for(arrived, 15)
        found["ice_to_provider_ms"].append((call.at - sent) * 1000)
        await asyncio.sleep(GAP)
    for _ in range(max(1, repeats // 2)):
        arrived = stub.expect_call("POST", "/sdp")
        sent = await socket.send("rtc.answer", sdp=ANSWER_SDP)
        call = await asyncio.wait_for(arrived, 15)
        found["answer_to_provider_ms"].append((call.at - sent) * 1000)
        await asyncio.sleep(GAP)
    errors = [m for m, _ in socket.seen if m["type"] == "error"]
    if errors:
        raise RuntimeError(f"the consumer refused a probe: {errors[:3]}")
    await socket.send("session.end")
    await socket.close()
    return found


def chart(found: dict[str, list[float]], path) -> None:
    plt = pyplot()
    fig, axis = plt.subplots(figsize=(8, 4.2))
    labels = {"ping_pong_ms": "ping → pong (round trip)", "ice_to_provider_ms": "rtc.ice → provider",
              "answer_to_provider_ms": "rtc.answer → provider",
              "connect_to_offer_ms": "connect → rtc.offer"}
    for key, label in labels.items():
        values = sorted(found[key])
        if values:
            axis.step(values, [(i + 1) / len(values) for i in range(len(values))], where="post",
                      label=f"{label}: p50 {values[len(values) // 2]:.1f} ms")
    axis.set_xscale("log")
    axis.set_xlabel("ms (log scale)")
    axis.set_ylabel("fraction of probes")
    axis.grid(alpha=0.3, which="both")
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title("Signaling relay through daphne + SessionConsumer (instant provider stub)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=30, help="sessions opened, one by one")
    args = parser.parse_args(argv)

    stub = ProviderStub()
    stub.port = free_port()
    with LoadMonitor() as load, bench_stack(NAME, ["web"], env=stub.provider_env()) as stack:
        port = stack.port
        user, avatar = bench_avatar()
        cookie = session_cookie(user)
        conversations = [new_conversation(user, avatar) for _ in range(args.sessions + 1)]

        async def run() -> dict[str, list[float]]:
            await stub.start(stub.port)
            try:
                return await measure(port, stub, cookie, conversations, args.repeats)
            finally:
                await stub.stop()

        found = asyncio.run(run())
        database = stack.database_kind

    stats = {key: summarize(values) for key, values in found.items()}
    path = chart_path(NAME)
    chart(found, path)
    report = {
        "setup": {"processes": "daphne + private redis-server; D-ID: aiohttp stub on loopback",
                  "database": database, "repeats": args.repeats,
                  "sessions_opened": args.sessions},
        "results_ms": stats,
        "summary": {
            "ping→pong p50 ms": stats["ping_pong_ms"].get("p50"),
            "ping→pong p99 ms": stats["ping_pong_ms"].get("p99"),
            "rtc.ice→provider p50 ms": stats["ice_to_provider_ms"].get("p50"),
            "rtc.ice→provider p99 ms": stats["ice_to_provider_ms"].get("p99"),
            "rtc.answer→provider p50 ms": stats["answer_to_provider_ms"].get("p50"),
            "rtc.answer→provider p99 ms": stats["answer_to_provider_ms"].get("p99"),
            "connect→rtc.offer p50 ms": stats["connect_to_offer_ms"].get("p50"),
        },
        "meaning": __doc__,
        "chart": path.name,
    }
    out = write(NAME, report, load=load)
    print(f"wrote {out} and {path}")
    return report


if __name__ == "__main__":
    main()
