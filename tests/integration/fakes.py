"""Cloud vendors faked at the wire: D-ID and Groq behind httpx.MockTransport, answering with the
documented shapes; Deepgram as a real WebSocket server speaking its live-transcription format."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from dataclasses import dataclass, field

import httpx

# Deepgram's `Results` message, shared with the benchmarks' provider stub: one wire format.
from launcher.vendor_messages import deepgram_results as results  # noqa: F401 (re-exported)

OFFER_SDP = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
)
ANSWER_SDP = OFFER_SDP.replace("o=- 1 2", "o=- 3 4")
ICE_SERVERS = [{"urls": ["stun:stun.example.org:3478"]}]


@dataclass
class FakeDID:
    """D-ID's /talks/streams API as the reference documents describe it, recording each call."""

    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    fail_create_with: int | None = None
    create_delay: float = 0.0
    create_times_out: bool = False
    created: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open_streams(self) -> set[str]:
        """Streams created and not deleted since: what the vendor would bill for."""
        with self.lock:
            deleted = {p.rsplit("/", 1)[-1] for m, p, _ in self.requests if m == "DELETE"}
            return set(self.created) - deleted

    def calls(self, method: str, suffix: str = "") -> list[dict]:
        with self.lock:
            return [body for m, path, body in self.requests if m == method and path.endswith(suffix)]

    def paths(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(m, p) for m, p, _ in self.requests]

    def spoken(self) -> list[str]:
        with self.lock:
            return [
                body["script"]["input"]
                for m, path, body in self.requests
                if m == "POST" and body.get("script")
            ]

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        path = request.url.path
        with self.lock:
            self.requests.append((request.method, path, body))
        if request.headers.get("authorization", "").split(" ")[0] != "Basic":
            return httpx.Response(401, json={"kind": "AuthorizationError", "description": "Unauthorized"})
        if request.method == "POST" and path == "/talks/streams":
            if self.create_delay:
                await asyncio.sleep(self.create_delay)
            if self.create_times_out:
                # What httpx's network transport raises when the read timeout passes.
                raise httpx.ReadTimeout("timed out", request=request)
            if self.fail_create_with:
                return httpx.Response(
                    self.fail_create_with,
                    json={"kind": "InternalServerError", "description": "Stream creation failed"},
                )
            stream_id = f"strm_{uuid.uuid4().hex[:12]}"
            with self.lock:
                self.created.append(stream_id)
            return httpx.Response(201, json={
                "id": stream_id,
                "session_id": f"AWSALB=abc{uuid.uuid4().hex[:8]}; Path=/",
                "offer": {"type": "offer", "sdp": OFFER_SDP},
                "ice_servers": ICE_SERVERS,
            })
        if path.endswith("/sdp") or path.endswith("/ice") or path.endswith("/interrupt"):
            return httpx.Response(200, json={"status": "success"})
        if request.method == "POST":
            return httpx.Response(200, json={"status": "started", "session_id": body.get("session_id")})
        if request.method == "DELETE":
            return httpx.Response(200, json={"status": "success"})
        return httpx.Response(404, json={"kind": "NotFoundError", "description": "not found"})


def sse_chunks(deltas: list[str], model: str = "llama-3.1-8b-instant") -> bytes:
    """Groq's streaming chat completion: OpenAI-style chunks, then [DONE]."""
    lines = []
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": model}
    lines.append({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                       "finish_reason": None}]})
    for delta in deltas:
        lines.append({**base, "choices": [{"index": 0, "delta": {"content": delta},
                                           "finish_reason": None}]})
    lines.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    body = "".join(f"data: {json.dumps(line)}\n\n" for line in lines) + "data: [DONE]\n\n"
    return body.encode()


@dataclass
class FakeGroq:
    deltas: list[str] = field(default_factory=lambda: [
        "Hello", " there!", " The moon", " is about", " 384,000 kilometres away.",
        " It takes", " light about", " one second", " to get here.",
    ])
    requests: list[dict] = field(default_factory=list)
    delay_per_chunk: float = 0.0

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(json.loads(request.content))
        if self.delay_per_chunk:
            return httpx.Response(200, headers={"content-type": "text/event-stream"},
                                  stream=_SlowStream(self.deltas, self.delay_per_chunk))
        return httpx.Response(200, headers={"content-type": "text/event-stream"},
                              content=sse_chunks(self.deltas))


class _SlowStream(httpx.AsyncByteStream):
    def __init__(self, deltas: list[str], delay: float) -> None:
        self.parts = sse_chunks(deltas).split(b"\n\n")
        self.delay = delay

    async def __aiter__(self):
        for part in self.parts:
            if part:
                await asyncio.sleep(self.delay)
                yield part + b"\n\n"


def speech_started(timestamp: float) -> str:
    """A Deepgram live `SpeechStarted` message (sent with vad_events=true), as documented at
    https://developers.deepgram.com/docs/speech-started."""
    return json.dumps({"type": "SpeechStarted", "channel": [0, 1], "timestamp": timestamp})


class FakeDeepgram:
    """A WebSocket server at /v1/listen: after `every` bytes of audio it sends the next scripted
    message, as Deepgram sends results while audio streams in."""

    def __init__(self, script: list[str], every: int = 3200) -> None:
        self.script = list(script)
        self.every = every
        self.received = 0
        self.paths: list[str] = []
        self.authorization: list[str] = []
        self.server = None
        self.port = 0

    async def _serve(self, ws) -> None:
        self.paths.append(ws.request.path)
        self.authorization.append(ws.request.headers.get("Authorization", ""))
        sent = 0
        async for frame in ws:
            if isinstance(frame, bytes):
                self.received += len(frame)
                while self.script and self.received >= (sent + 1) * self.every:
                    await ws.send(self.script.pop(0))
                    sent += 1
            elif json.loads(frame).get("type") == "CloseStream":
                await ws.send(json.dumps({"type": "Metadata", "request_id": "x", "duration": 1.0}))
                await ws.close()
                return

    async def __aenter__(self) -> FakeDeepgram:
        import websockets

        self.server = await websockets.serve(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"
