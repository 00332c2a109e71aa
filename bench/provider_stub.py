"""Instant stand-ins for D-ID, Groq and Deepgram on loopback that note when every call arrives.

One aiohttp server answers the three vendors' wire protocols (the shapes of the
integration tests' fakes, over real HTTP and WebSocket instead of MockTransport), so that the
product's own clients, retries and connection pools are all in the measured path and only the
vendor's think time is gone. Times are `time.time()` so that they compare with the marks the
product saves on its Message rows (same machine, same clock).

- D-ID: POST /talks/streams (201 with an offer), .../sdp, .../ice, .../interrupt, POST (speak),
  DELETE; every call is recorded, and `expect()` hands out a future for the next matching one.
- Groq: POST /openai/v1/chat/completions streams `reply_for(question)` as OpenAI-style SSE
  chunks `chunk_gap` seconds apart, noting when the request came and when each chunk went out.
- Deepgram: WS /v1/listen sends a final (`speech_final`) result every `final_every` bytes of
  audio and an interim result every `interim_every` bytes, noting when each went out.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web

# Deepgram's `Results` message, as the integration tests' fake sends it: one wire format.
from launcher.vendor_messages import deepgram_results

OFFER_SDP = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
    "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\n"
)
ANSWER_SDP = OFFER_SDP.replace("o=- 1 2", "o=- 3 4")
CANDIDATE = (
    "candidate:842163049 1 udp 1677729535 127.0.0.1 50000 typ host generation 0"
)


@dataclass
class Call:
    method: str
    path: str
    body: dict
    at: float


@dataclass
class LlmReply:
    """One streamed completion: when the request arrived and when each chunk was written."""

    question: str
    requested_at: float
    chunks: list[str]
    sent_at: list[float] = field(default_factory=list)


def default_reply(question: str) -> list[str]:
    return ["Sure, here is", " the answer. ", "It comes in", " two sentences. "]



def _sse(delta: dict, finish: str | None = None) -> bytes:
    chunk = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
             "model": "llama-3.1-8b-instant",
             "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return f"data: {json.dumps(chunk)}\n\n".encode()


class ProviderStub:
    def __init__(
        self,
        *,
        chunk_gap: float = 0.02,
        reply_for: Callable[[str], list[str]] = default_reply,
        final_every: int | None = None,
        interim_every: int | None = None,
        final_text: Callable[[int, int], str] | None = None,
    ) -> None:
        self.chunk_gap = chunk_gap
        self.reply_for = reply_for
        self.final_every = final_every
        self.interim_every = interim_every
        self.final_text = final_text or (lambda conn, n: f"Question {conn} {n}, please?")
        self.calls: list[Call] = []
        self.replies: dict[str, LlmReply] = {}
        self.finals: dict[str, float] = {}
        self.interims: dict[str, float] = {}
        self.audio_bytes = 0
        self.listen_connections = 0
        self._waiters: list[tuple[Callable[[Call | LlmReply], bool], asyncio.Future]] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def provider_env(self) -> dict[str, str]:
        """Settings that point every provider at this stub."""
        return {
            "DID_API_URL": self.url, "DID_API_KEY": "bench-key",
            "GROQ_BASE_URL": self.url, "GROQ_API_KEY": "bench-key",
            "DEEPGRAM_URL": self.ws_url, "DEEPGRAM_API_KEY": "bench-key",
        }

    async def start(self, port: int = 0) -> ProviderStub:
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/talks/streams", self._create)
        app.router.add_post("/talks/streams/{id}", self._speak)
        app.router.add_post("/talks/streams/{id}/{what}", self._stream_call)
        app.router.add_delete("/talks/streams/{id}", self._delete)
        app.router.add_post("/openai/v1/chat/completions", self._chat)
        app.router.add_get("/v1/listen", self._listen)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=1024)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- waiting for a call ----------------------------------------------------------------------

    def expect(self, predicate: Callable[[Call | LlmReply], bool]) -> asyncio.Future:
        """A future resolved with the next call (or LLM request) matching `predicate`."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return future

    def expect_call(self, method: str, suffix: str) -> asyncio.Future:
        return self.expect(
            lambda c: isinstance(c, Call) and c.method == method and c.path.endswith(suffix)
        )

    def _arrived(self, item: Call | LlmReply) -> None:
        for entry in list(self._waiters):
            predicate, future = entry
            if not future.done() and predicate(item):
                future.set_result(item)
                self._waiters.remove(entry)
                return

    def speak_calls(self) -> list[Call]:
        return [c for c in self.calls if c.method == "POST" and c.body.get("script")]

    # -- D-ID ---------------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Call:
        at = time.time()
        body = await request.json() if request.can_read_body else {}
        call = Call(request.method, request.path, body, at)
        self.calls.append(call)
        self._arrived(call)
        return call

    async def _create(self, request: web.Request) -> web.Response:
        await self._record(request)
        n = next(self._ids)
        return web.json_response({
            "id": f"strm_bench{n}", "session_id": f"AWSALB=bench{n}; Path=/",
            "offer": {"type": "offer", "sdp": OFFER_SDP}, "ice_servers": [],
        }, status=201)

    async def _speak(self, request: web.Request) -> web.Response:
        call = await self._record(request)
        return web.json_response({"status": "started", "session_id": call.body.get("session_id")})

    async def _stream_call(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"status": "success"})

    async def _delete(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"status": "success"})

    # -- Groq -----------------------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        at = time.time()
        body = await request.json()
        question = next(
            (m["content"] for m in reversed(body.get("messages", [])) if m.get("role") == "user"),
            "",
        )
        reply = LlmReply(question, at, list(self.reply_for(question)))
        self.replies[question] = reply
        self._arrived(reply)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        await response.write(_sse({"role": "assistant", "content": ""}))
        for i, chunk in enumerate(reply.chunks):
            if i and self.chunk_gap:
                await asyncio.sleep(self.chunk_gap)
            await response.write(_sse({"content": chunk}))
            reply.sent_at.append(time.time())
        await response.write(_sse({}, finish="stop"))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    # -- Deepgram -------------------------------------------------------------------------------

    async def _listen(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=1024 * 1024)
        await ws.prepare(request)
        self.listen_connections += 1
        conn = self.listen_connections
        received, finals, interims = 0, 0, 0
        last_final = 0
        async for message in ws:
            if message.type == WSMsgType.BINARY:
                received += len(message.data)
                self.audio_bytes += len(message.data)
                if self.interim_every and received >= (interims + 1) * self.interim_every:
                    interims += 1
                    # The send time rides in the text, so a client in another process can
                    # time the relay on the shared clock.
                    sent = time.time()
                    text = f"partial {conn} {interims} at {sent:.6f}"
                    await ws.send_str(deepgram_results(text, is_final=False, speech_final=False, start=0.0,
                                               duration=received / 32000))
                    self.interims[text] = sent
                if self.final_every and received - last_final >= self.final_every:
                    finals += 1
                    text = self.final_text(conn, finals)
                    start = last_final / 32000
                    await ws.send_str(deepgram_results(text, is_final=True, speech_final=True, start=start,
                                               duration=(received - last_final) / 32000))
                    self.finals[text] = time.time()
                    last_final = received
            elif message.type == WSMsgType.TEXT:
                if json.loads(message.data).get("type") == "CloseStream":
                    await ws.send_str(json.dumps({"type": "Metadata", "request_id": "bench",
                                                  "duration": received / 32000}))
                    await ws.close()
                    break
            else:
                break
        return ws
