"""The live page's WebSocket, as a benchmark drives it: a real WebSocket to daphne with the
browser's session cookie and Origin, every inbound message kept with its arrival time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

Handler = Callable[[dict, float], None]


async def until(condition: Callable[[], bool], *, within: float, every: float = 0.05) -> bool:
    """Poll `condition` (state other tasks change) until it holds or `within` seconds pass."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        if condition():
            return True
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(every)


class LiveSocket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[tuple[dict, float]] = asyncio.Queue()
        self.seen: list[tuple[dict, float]] = []
        # Messages of these types go to their handler (with the arrival time), not the queue.
        self.handlers: dict[str, Handler] = {}
        self.closed_with: int | None = None
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int, conversation_id, cookie: str, *,
                   open_timeout: float = 30) -> LiveSocket:
        ws = await connect(
            f"ws://127.0.0.1:{port}/ws/sessions/{conversation_id}/",
            additional_headers={"Cookie": f"sessionid={cookie}"},
            origin=f"http://127.0.0.1:{port}",
            open_timeout=open_timeout,
            max_queue=None,
            ping_interval=None,
        )
        return cls(ws)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                at = time.time()
                if isinstance(raw, bytes):
                    continue
                message = json.loads(raw)
                handler = self.handlers.get(message.get("type"))
                if handler is not None:
                    handler(message, at)
                else:
                    await self.queue.put((message, at))
        except Exception:  # the socket closed under us; expect() reports what was seen
            pass
        finally:
            self.closed_with = self.ws.close_code if self.ws.close_code is not None else -1
            await self.queue.put(({"type": "_closed", "code": self.closed_with}, time.time()))

    async def send(self, kind: str, **fields: Any) -> float:
        """Send one JSON frame; returns when it left (time.time())."""
        payload = json.dumps({"type": kind, **fields})
        at = time.time()
        await self.ws.send(payload)
        return at

    async def send_audio(self, pcm: bytes) -> float:
        at = time.time()
        await self.ws.send(pcm)
        return at

    async def expect(self, kind: str, within: float = 15) -> tuple[dict, float]:
        """The next message of type `kind` and its arrival time; others are kept in `seen`."""
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {kind!r} within {within}s; saw {self.kinds()[-12:]}")
            try:
                message, at = await asyncio.wait_for(self.queue.get(), remaining)
            except TimeoutError:
                continue
            self.seen.append((message, at))
            if message["type"] == kind:
                return message, at
            if message["type"] == "_closed":
                raise ConnectionError(f"socket closed ({message['code']}) waiting for {kind!r}; "
                                      f"saw {self.kinds()[-12:]}")

    def kinds(self) -> list[str]:
        return [m["type"] for m, _ in self.seen]

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._reader, 5)
