"""One local-engine stream watched from this process: the engine's D-ID streams served in-process
(as tests/engine/test_did_streams.py does) and an aiortc viewer on loopback. Shared by the
diagnosis scripts (first_audio_trace.py, media_memory_probe.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from engine.config import EngineConfig
from engine.loopback_ice import use_loopback_host_candidates
from engine.server import LocalAvatars, build_app

KEY = "trace-engine-key"
AUTH = {"Authorization": f"Basic {KEY}"}


async def drain(track) -> None:
    try:
        while True:
            await track.recv()
    except MediaStreamError:
        pass


@dataclass
class Viewer:
    runner: web.AppRunner
    http: aiohttp.ClientSession
    root: str  # the engine's URL
    base: str  # its Clips streams endpoint
    stream: dict  # the created stream (id, session_id, offer)
    events: asyncio.Queue  # data-channel event names, in order

    async def talk(self, text: str) -> None:
        """Say `text` and wait until it is done."""
        script = {"script": {"type": "text", "input": text},
                  "session_id": self.stream["session_id"]}
        await self.http.post(f"{self.base}/{self.stream['id']}", json=script)
        while await self.events.get() != "stream/done":
            pass


@contextlib.asynccontextmanager
async def watched_stream(resolution: int) -> AsyncIterator[Viewer]:
    """The engine, one Clips stream of the astronaut, connected and ready."""
    config = EngineConfig(api_key=KEY, default_resolution=resolution)
    runner = web.AppRunner(build_app(config, avatars=LocalAvatars(config)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    root = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    base = f"{root}/clips/streams"
    use_loopback_host_candidates()
    pc = RTCPeerConnection()
    events: asyncio.Queue[str] = asyncio.Queue()
    channel = pc.createDataChannel("JanusDataChannel")
    channel.on("message", lambda message: events.put_nowait(message.partition(":")[0]))
    pullers = []
    pc.on("track", lambda track: pullers.append(asyncio.ensure_future(drain(track))))
    try:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            body = {"presenter_id": "local-astronaut", "output_resolution": resolution}
            async with http.post(base, json=body) as response:
                stream = await response.json()
            session = {"session_id": stream["session_id"]}
            await pc.setRemoteDescription(RTCSessionDescription(**stream["offer"]))
            await pc.setLocalDescription(await pc.createAnswer())
            answer = {"type": "answer", "sdp": pc.localDescription.sdp}
            await http.post(f"{base}/{stream['id']}/sdp", json={"answer": answer, **session})
            while await events.get() != "stream/ready":
                pass
            yield Viewer(runner, http, root, base, stream, events)
    finally:
        for task in pullers:
            task.cancel()
        await pc.close()
        await runner.cleanup()
