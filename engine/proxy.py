"""The parent's public face: a thin reverse proxy from the engine's port to its children.

aiohttp on both sides (server here, client to each child's unix socket with kept-alive
connections), so a request costs one extra hop on this machine, not a new connection. Plain
responses are relayed whole, server-sent events and speech (`audio/pcm`) chunk by chunk as they
come, WebSockets message by message in both directions with their close code. The parent also
answers browsers' CORS (cors.py). A child that is down or dies mid-request is answered in its
vendor's 503 shape (roles.unavailable); a request for a stream of a media process that died
gets D-ID's "stream gone" (roles.stream_lost).

Why not nginx or a library: the proxy must know the children's state and the vendors' error
shapes, and it runs in the process that must supervise the children anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid

import aiohttp
from aiohttp import WSMsgType, web

from . import roles
from .cors import add_cors
from .supervisor import Child, Supervisor

log = logging.getLogger("engine.proxy")

SUPERVISOR = web.AppKey("supervisor", Supervisor)
STARTED = web.AppKey("proxy_started", float)
RECEIVED = web.RequestKey("engine_received", float)
# Header the child reads as "POST received" for its talk trace (one clock: CLOCK_MONOTONIC).
RECEIVED_HEADER = "X-Engine-Received"
# The Host the client asked the parent for (Host itself is not forwarded), set by us only.
FORWARDED_HOST_HEADER = "X-Forwarded-Host"
HOP_BY_HOP = frozenset(
    h.lower()
    for h in (
        "Connection",
        "Keep-Alive",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "TE",
        "Trailer",
        "Transfer-Encoding",
        "Upgrade",
        "Host",
        "Content-Length",
    )
)
WS_HANDSHAKE = frozenset(
    h.lower()
    for h in (
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Accept",
    )
)
# No total (a stream of events lasts); a child silent this long on one request is stuck.
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=120)
# Relayed chunk by chunk as the child writes them: events, and speech as it is synthesised.
STREAMED_TYPES = frozenset({"text/event-stream", "audio/pcm"})
MAX_BODY_BYTES = 2 * 1024 * 1024  # what the children accept (server.build_app)
WS_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # deepgram_listen.MAX_MESSAGE_BYTES


def vendor_response(error: roles.VendorError) -> web.Response:
    return web.json_response(error.body, status=error.status, headers=error.headers)


def _forward_headers(request: web.Request, *, websocket: bool = False) -> dict[str, str]:
    skip = HOP_BY_HOP | {FORWARDED_HOST_HEADER.lower()} | (WS_HANDSHAKE if websocket else frozenset())
    headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
    headers[RECEIVED_HEADER] = f"{request.get(RECEIVED, time.monotonic()):.6f}"
    # The child answers on a unix socket: links it writes (catalog idle videos) need our host.
    headers[FORWARDED_HOST_HEADER] = request.host
    return headers


def _down(child: Child | None, role: str, request: web.Request) -> web.Response:
    what = {"stt": "speech recognition", "llm": "language model", "media": "media"}[role]
    reason = f"the engine's {what} process is restarting; try again in a moment"
    if child is None:
        reason = f"the engine's {what} process is not enabled"
    return vendor_response(
        roles.unavailable(role, reason, request_id=str(uuid.uuid4()), path=request.path)
    )


async def route(request: web.Request) -> web.StreamResponse:
    request[RECEIVED] = time.monotonic()
    role = roles.role_of(request.path)
    if role is None:
        raise web.HTTPNotFound()
    supervisor = request.app[SUPERVISOR]
    child = supervisor.children.get(role)
    if role == roles.MEDIA and child is not None:
        stream = roles.stream_in_path(request.path)
        if stream is not None and roles.instance_of(stream) in child.dead_instances:
            return vendor_response(roles.stream_lost(stream))
    if child is None or not child.ready:
        return _down(child, role, request)
    try:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await _websocket(request, child, role)
        return await _http(request, child, role)
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError):
        log.warning("the %s process dropped %s %s", role, request.method, request.path)
        return _down(child, role, request)


async def _http(request: web.Request, child: Child, role: str) -> web.StreamResponse:
    body = await request.read() if request.can_read_body else None
    async with child.session.request(
        request.method,
        f"http://{role}{request.path_qs}",
        headers=_forward_headers(request),
        data=body,
        allow_redirects=False,
        timeout=HTTP_TIMEOUT,
    ) as upstream:
        headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        if upstream.content_type not in STREAMED_TYPES:
            payload = await upstream.read()
            return web.Response(status=upstream.status, body=payload, headers=headers)
        response = web.StreamResponse(status=upstream.status, headers=headers)
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError):
            log.warning("the %s process dropped a stream of events", role)
            return response  # headers are out: ending the stream is all that is left to say
        await response.write_eof()
        return response


async def _websocket(request: web.Request, child: Child, role: str) -> web.StreamResponse:
    offered = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    try:
        upstream = await child.session.ws_connect(
            f"http://{role}{request.path_qs}",
            headers=_forward_headers(request, websocket=True),
            protocols=offered,
            autoclose=False,
            autoping=True,
            max_msg_size=0,  # the child enforces its own limit
        )
    except aiohttp.WSServerHandshakeError as exc:
        return _refused_handshake(exc, role)
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(upstream.close)
        chosen = (upstream.protocol,) if upstream.protocol else ()
        client = web.WebSocketResponse(
            protocols=chosen, autoclose=False, max_msg_size=WS_MAX_MESSAGE_BYTES
        )
        # The child's handshake headers (Deepgram's dg-request-id...); aiohttp keeps the
        # handshake response only on this private attribute.
        handshake = getattr(getattr(upstream, "_response", None), "headers", {})
        for name, value in handshake.items():
            if name.lower().startswith("dg-"):
                client.headers[name] = value
        await client.prepare(request)
        await _pump(client, upstream)
        return client


def _refused_handshake(exc: aiohttp.WSServerHandshakeError, role: str) -> web.Response:
    """The child refused the upgrade with an HTTP answer (401, 503...): relay its meaning."""
    headers = dict(exc.headers or {})
    message = headers.get("dg-error") or exc.message or "refused"
    request_id = headers.get("dg-request-id", "")
    if exc.status in (502, 503, 504) or not exc.status:
        return vendor_response(roles.unavailable(role, message, request_id))
    code = {401: "INVALID_AUTH", 400: "Bad Request", 403: "INSUFFICIENT_PERMISSIONS"}.get(
        exc.status, "REQUEST_REFUSED"
    )
    relay = {k: v for k, v in headers.items() if k.lower().startswith("dg-")}
    return web.json_response(
        {"err_code": code, "err_msg": message, "request_id": request_id},
        status=exc.status,
        headers=relay,
    )


async def _pump(client: web.WebSocketResponse, upstream: aiohttp.ClientWebSocketResponse) -> None:
    """Relay messages both ways until either side closes; relay the close code and reason."""

    async def relay(source, sink) -> tuple[int, bytes]:
        while True:
            message = await source.receive()
            if message.type is WSMsgType.TEXT:
                await sink.send_str(message.data)
            elif message.type is WSMsgType.BINARY:
                await sink.send_bytes(message.data)
            elif message.type is WSMsgType.CLOSE:
                return int(message.data or 1000), (message.extra or "").encode()
            elif message.type in (WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return 0, b""

    to_child = asyncio.create_task(relay(client, upstream))
    to_client = asyncio.create_task(relay(upstream, client))
    try:
        done, _ = await asyncio.wait((to_child, to_client), return_when=asyncio.FIRST_COMPLETED)
        first = done.pop()
        code, reason = (0, b"") if first.exception() else first.result()
        if first is to_client:
            if not code:  # no close frame: the child went away
                code, reason = 1011, b"the engine's process stopped"
            await client.close(code=code, message=reason)
        else:
            await upstream.close(code=code or 1000, message=reason)
            # The child answers the close: give it a moment, then let go.
            await asyncio.wait((to_client,), timeout=1.0)
    finally:
        for task in (to_child, to_client):
            task.cancel()
        await asyncio.gather(to_child, to_client, return_exceptions=True)


async def health(request: web.Request) -> web.Response:
    """The parent's view: every child (pid, ready, restarts, last exit) and their own health."""
    # Engine-only (D-ID, Deepgram and Groq have no such route); it needs no key, like before.
    supervisor = request.app[SUPERVISOR]
    modules: dict[str, bool] = {}
    streams = 0
    for role, child in supervisor.children.items():
        modules[roles.MODULE_OF_ROLE[role]] = False
        if not child.ready:
            continue
        try:
            async with child.session.get(
                "http://child/health", timeout=aiohttp.ClientTimeout(total=1)
            ) as response:
                body = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            continue
        modules.update(body.get("modules", {}))
        streams += body.get("streams", 0)
    ready = all(c.ready for c in supervisor.children.values())
    # 503 until every child is ready: whoever waits for /health (make run, the test stack,
    # the benchmarks) waits for the models, as with the engine in one process.
    return web.json_response(
        status=200 if ready else 503,
        data={
            "status": "ok" if ready else "degraded",
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - request.app[STARTED], 1),
            "streams": streams,
            "modules": modules,
            "processes": {role: c.describe() for role, c in supervisor.children.items()},
        },
    )


def build_proxy(supervisor: Supervisor) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SUPERVISOR] = supervisor
    app[STARTED] = time.monotonic()
    add_cors(app, supervisor.config.cors_origins)  # the public port answers browsers' CORS
    app.router.add_get("/health", health)
    app.router.add_route("*", "/{tail:.*}", route)
    return app
