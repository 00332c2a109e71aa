"""LiveAvatar LITE mode's command WebSocket: our own speech in, avatar video out.

From https://docs.liveavatar.com/docs/lite-mode/events and
https://docs.liveavatar.com/docs/lite-mode/lifecycle:

- Starting a LITE session returns `ws_url`; the agent (us, server-side) connects to it and waits
  for `{"type": "session.state_updated", "state": "connected"}`: events sent before that are
  dropped without an error.
- `agent.speak` {audio: base64 PCM 16-bit 24 kHz mono} adds audio to the avatar's buffer, about a
  second per packet and never over 1 MB; every chunk of one utterance carries the same
  `event_id`, and `agent.speak_end` {event_id} closes the utterance.
- `agent.interrupt` clears everything scheduled; `session.keep_alive` {event_id} pushes back the
  5-minute idle timeout.
- The server answers `agent.speak_started` / `agent.speak_ended` {event_id} as the avatar talks.

LiveAvatar's LITE guide (https://github.com/heygen-com/liveavatar-agent-skills, lite-mode-guide)
recommends a 600 ms first chunk so the avatar starts soon, then 1 s chunks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import websockets
from websockets.asyncio.client import connect as ws_connect

from ...error_codes import AVATAR, Service
from ..errors import ProviderError, rejection, unavailable

log = logging.getLogger(__name__)

SAMPLE_RATE = 24_000
BYTES_PER_SECOND = SAMPLE_RATE * 2  # 16-bit mono
FIRST_CHUNK_BYTES = BYTES_PER_SECOND * 6 // 10  # 600 ms
CHUNK_BYTES = BYTES_PER_SECOND  # 1 s; base64 of it is 64 KB, far under the 1 MB cap
# Their names for the avatar talking, in D-ID's words (what the page and consumer understand).
TALK_EVENTS = {"agent.speak_started": "stream/started", "agent.speak_ended": "stream/done"}

OnEvent = Callable[[str], Awaitable[None]]


def new_event_id() -> str:
    return uuid.uuid4().hex


def speak_events(pcm: bytes, event_id: str) -> list[dict[str, str]]:
    """The `agent.speak` chunks for one utterance of PCM16 24 kHz audio, then `agent.speak_end`."""
    if len(pcm) % 2:
        pcm = pcm[:-1]  # half a sample is noise
    events = []
    start, size = 0, FIRST_CHUNK_BYTES
    while start < len(pcm):
        chunk = pcm[start : start + size]
        events.append(
            {
                "type": "agent.speak",
                "event_id": event_id,
                "audio": base64.b64encode(chunk).decode("ascii"),
            }
        )
        start, size = start + len(chunk), CHUNK_BYTES
    events.append({"type": "agent.speak_end", "event_id": event_id})
    return events


LIVEAVATAR = Service(AVATAR, "avatar service (LiveAvatar)")

class LiteChannel:
    """One LITE command WebSocket, opened on first use and reopened once if it dropped.

    Sends are serialised (one utterance's chunks are never interleaved with another's). Incoming
    events are read by a background task so the socket's buffer never fills. The avatar's
    talking events go to `on_event` (e.g. relayed to the page), but only from a channel that sent
    speech: another process's socket to the same session (one that only interrupts) stays quiet,
    so the page never hears a talk twice. `on_closed` is called when the socket ends for good.
    """

    def __init__(
        self,
        url: str,
        *,
        on_event: OnEvent | None = None,
        on_closed: Callable[[], None] | None = None,
        connect: Callable[..., Any] = ws_connect,
        ready_timeout: float = 10.0,
        provider: str = "liveavatar",
        service: Service = LIVEAVATAR,
    ) -> None:
        self.url = url
        self.on_event = on_event
        self.on_closed = on_closed
        self.spoke = False
        self.connect = connect
        self.ready_timeout = ready_timeout
        self.provider = provider
        self.service = service
        self._ws = None
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    async def send(self, *events: dict[str, Any]) -> None:
        async with self._lock:
            for attempt in (1, 2):
                ws = await self._ensure()
                try:
                    for event in events:
                        await ws.send(json.dumps(event))
                        self.spoke = self.spoke or event.get("type") == "agent.speak"
                    return
                except websockets.exceptions.ConnectionClosed as exc:
                    await self._drop()
                    if attempt == 2:
                        log.warning("liveavatar: command socket closed while sending (%s)", exc)
                        raise unavailable(provider=self.provider, service=self.service) from None

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _ensure(self):
        if self._ws is not None:
            return self._ws
        try:
            ws = await self.connect(self.url, open_timeout=self.ready_timeout, max_size=2**20)
        except websockets.exceptions.InvalidStatus as exc:
            status = exc.response.status_code
            log.warning("liveavatar: command socket refused with %s", status)
            if 400 <= status < 500:
                raise rejection(status, provider=self.provider, service=self.service) from None
            raise unavailable(provider=self.provider, service=self.service, status=status) from None
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
            log.warning("liveavatar: command socket failed to open (%s)", type(exc).__name__)
            raise unavailable(
                provider=self.provider, service=self.service, vendor_message=type(exc).__name__
            ) from None
        try:
            await asyncio.wait_for(self._until_connected(ws), self.ready_timeout)
        except (TimeoutError, websockets.exceptions.ConnectionClosed, ProviderError) as exc:
            await ws.close()
            if isinstance(exc, ProviderError):
                raise
            raise unavailable(
                provider=self.provider, service=self.service, vendor_message="not connected"
            ) from None
        self._ws = ws
        self._reader = asyncio.create_task(self._read(ws), name="liveavatar-lite-reader")
        return ws

    async def _until_connected(self, ws) -> None:
        """Read until the session says it is connected (commands sent before are dropped)."""
        async for raw in ws:
            event = _parse(raw)
            if event.get("type") != "session.state_updated":
                continue
            state = event.get("state")
            if state == "connected":
                return
            if state in ("closing", "closed"):
                raise ProviderError(
                    f"The {self.service} has already ended this session.",
                    provider=self.provider,
                    service=self.service,
                    kind="not_found",
                )
        raise websockets.exceptions.ConnectionClosedOK(None, None)

    async def _read(self, ws) -> None:
        try:
            async for raw in ws:
                event = _parse(raw)
                kind = event.get("type")
                if kind in TALK_EVENTS and self.spoke and self.on_event is not None:
                    try:
                        await self.on_event(TALK_EVENTS[kind])
                    except Exception:  # a relay hiccup must not kill the command socket
                        log.exception("liveavatar: could not relay %s", kind)
                elif kind == "session.state_updated" and event.get("state") in ("closing", "closed"):
                    log.info("liveavatar: session %s", event.get("state"))
        except websockets.exceptions.ConnectionClosed:
            pass
        finally:
            if self._ws is ws:
                self._ws = None
                if self.on_closed is not None:
                    self.on_closed()

    async def _drop(self) -> None:
        ws, self._ws = self._ws, None
        reader, self._reader = self._reader, None
        if ws is not None:
            await ws.close()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


def _parse(raw) -> dict[str, Any]:
    try:
        event = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return event if isinstance(event, dict) else {}
