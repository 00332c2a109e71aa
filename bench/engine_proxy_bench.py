"""What the engine's parent adds to a request: its reverse proxy, measured on this machine.

    .venv/bin/python -m bench.engine_proxy_bench [--requests 500]

A stand-in child (a tiny aiohttp app answering like the engine's D-ID routes, no models) serves
on a unix socket in its own process, as the real children do; the engine's proxy
(engine/proxy.py) serves in front of it on 127.0.0.1 in another process. The same small JSON POST is timed straight to the child (unix socket) and
through the proxy (TCP loopback, then the unix socket), alternating, from one kept-alive client
each. The added latency is summarised from the differences of consecutive pairs; on a busy
machine read `min` and `p50`.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import LoadMonitor, summarize, write  # noqa: E402
from engine.config import EngineConfig  # noqa: E402
from engine.proxy import build_proxy  # noqa: E402
from engine.supervisor import Supervisor  # noqa: E402

NAME = "engine_proxy"
BODY = {"script": {"type": "text", "input": "Hello there."}, "session_id": "AWSALB=x"}


def stand_in_child() -> web.Application:
    async def talk(request: web.Request) -> web.Response:
        await request.json()
        return web.json_response({"status": "started", "video_id": "tlk_x"})

    app = web.Application()
    app.router.add_post("/talks/streams/{stream_id}", talk)
    return app


def serve_child(socket_path: str) -> None:
    """The stand-in child in its own process, on its unix socket (as the engine's children)."""
    web.run_app(stand_in_child(), path=socket_path, print=None, access_log=None)


def serve_proxy(run_dir: str, port: int) -> None:
    """The engine's proxy in its own process, in front of the stand-in child (marked ready)."""

    async def serve() -> None:
        supervisor = Supervisor(EngineConfig(optional_modules=()), Path(run_dir))
        media = supervisor.children["media"]
        media.session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=media.socket, limit=0)
        )
        media.ready = True
        runner = web.AppRunner(build_proxy(supervisor), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        await asyncio.Event().wait()

    asyncio.run(serve())


async def wait_until_up(url: str, session: aiohttp.ClientSession) -> None:
    for _ in range(200):
        try:
            async with session.post(url, json=BODY) as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def measure(requests: int) -> dict:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as run_dir:
        socket_path = str(Path(run_dir) / "media.sock")
        port = free_port()
        processes = [
            context.Process(target=serve_child, args=(socket_path,), daemon=True),
            context.Process(target=serve_proxy, args=(run_dir, port), daemon=True),
        ]
        for process in processes:
            process.start()
        direct_client = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=socket_path))
        proxied_client = aiohttp.ClientSession()
        path = "/talks/streams/strm_bench"
        direct, proxied = [], []
        try:
            await wait_until_up(f"http://media{path}", direct_client)
            await wait_until_up(f"http://127.0.0.1:{port}{path}", proxied_client)
            for n in range(requests + 50):
                for client, url, into in (
                    (direct_client, f"http://media{path}", direct),
                    (proxied_client, f"http://127.0.0.1:{port}{path}", proxied),
                ):
                    started = time.perf_counter()
                    async with client.post(url, json=BODY) as response:
                        await response.read()
                    if n >= 50:  # the first ones warm up connections and code paths
                        into.append((time.perf_counter() - started) * 1000)
        finally:
            await direct_client.close()
            await proxied_client.close()
            for process in processes:
                process.terminate()
                process.join(5)
    # Each proxied request is paired with the direct one just before it: their difference is
    # what the hop adds, with most of the machine's load in common cancelled out.
    added = [p - d for d, p in zip(direct, proxied, strict=True)]
    return {
        "direct_ms": summarize(direct, digits=3),
        "through_proxy_ms": summarize(proxied, digits=3),
        "added_ms": summarize(added, digits=3),
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    args = parser.parse_args(argv)
    with LoadMonitor() as load:
        result = asyncio.run(measure(args.requests))
    report = {
        "setup": {
            "requests": args.requests,
            "request": "POST /talks/streams/{id} with a small JSON talk, kept-alive connections",
            "direct": "aiohttp client -> child process's unix socket",
            "proxied": "aiohttp client -> proxy process on 127.0.0.1 (TCP) -> child's socket",
        },
        **result,
    }
    path = write(NAME, report, load=load)
    added = report["added_ms"]
    print(f"added by the proxy: p50 {added['p50']} ms, min {added['min']} ms ({path})")
    return report


if __name__ == "__main__":
    main()
