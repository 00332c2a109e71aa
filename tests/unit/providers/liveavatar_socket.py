"""LiveAvatar's LITE command socket, faked as a real WebSocket server on loopback that behaves as
https://docs.liveavatar.com/docs/lite-mode/events documents (events from fixtures/liveavatar.json).
Shared by the provider's contract tests and the live-session integration tests."""

from __future__ import annotations

import asyncio
import base64
import json

from websockets.asyncio.server import serve

from .vendor_wire import load

LITE_EVENTS = load("liveavatar.json")["lite_events"]
SESSION_ID = load("liveavatar.json")["exchanges"]["token_lite"]["response"]["json"]["data"]["session_id"]


class FakeLiteSocket:
    """LiveAvatar's LITE command socket as documented: says `connecting`, then `connected`, and
    answers each utterance's `agent.speak_end` with `agent.speak_started` / `agent.speak_ended`.
    Records every frame and whether it came before `connected` (those the real one drops)."""

    def __init__(self) -> None:
        self.frames: list[dict] = []
        self.early: list[dict] = []
        self.connections = 0
        self.url = ""
        self._server = None

    async def __aenter__(self):
        self._server = await serve(self.handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/ws/{SESSION_ID}"
        return self

    async def __aexit__(self, *exc_info):
        self._server.close()
        await self._server.wait_closed()

    async def handle(self, ws) -> None:
        self.connections += 1
        events = LITE_EVENTS
        connected = False

        async def announce():
            nonlocal connected
            await ws.send(json.dumps(events["state_connecting"]))
            await asyncio.sleep(0.05)
            connected = True
            await ws.send(json.dumps(events["state_connected"]))

        announcing = asyncio.create_task(announce())
        async for raw in ws:
            frame = json.loads(raw)
            (self.frames if connected else self.early).append(frame)
            if frame["type"] == "agent.speak_end":
                for name in ("speak_started", "speak_ended"):
                    event = json.loads(json.dumps(events[name]).replace("{event_id}", frame["event_id"]))
                    await ws.send(json.dumps(event))
        await announcing

    def utterances(self) -> list[bytes]:
        """The audio of each finished utterance (its agent.speak chunks, joined)."""
        spoken, current = [], b""
        for frame in self.frames:
            if frame["type"] == "agent.speak":
                current += base64.b64decode(frame["audio"])
            elif frame["type"] == "agent.speak_end":
                spoken.append(current)
                current = b""
        return spoken
