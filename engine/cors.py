"""CORS on the engine's public port, the way D-ID's API answers browsers on other origins.

D-ID's streaming demo calls `api.d-id.com` straight from a web page, so a vendor-style browser
client needs the engine to answer the preflight (`OPTIONS` with `Access-Control-Request-Method`)
and to put `Access-Control-Allow-Origin` on every answer: JSON, errors and server-sent events
alike. Only origins in `ENGINE_CORS_ORIGINS` get it (default: the product's own origin and
loopback on any port); any other origin gets no CORS header, so its browser blocks the call, and
a log line says why.

Why not a library: aiohttp-cors is not installed, and what is needed is small — one preflight
answer and one header set just before each response goes out (`on_response_prepare`, which also
covers streamed responses whose headers leave before the handler returns).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from urllib.parse import urlsplit

from aiohttp import web

log = logging.getLogger("engine.cors")

ALLOW_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type"
MAX_AGE_S = 600  # browsers cap it anyway (Chromium: 2 hours); ten minutes spares preflights
ANY_PORT = "*"
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
_DEFAULT_PORTS = {"http": 80, "https": 443}

ORIGINS = web.AppKey("cors_origins", frozenset)


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of a URL, lower-case, without a default port; None if it has none."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def normalise(patterns: Iterable[str]) -> frozenset[str]:
    """Allowed origins as written in ENGINE_CORS_ORIGINS: exact origins, `scheme://host:*` for
    any port of a host, or `*` for every origin. Unparseable entries are dropped with a warning."""
    allowed = set()
    for raw in patterns:
        pattern = raw.strip().rstrip("/")
        if not pattern:
            continue
        if pattern == ANY_PORT:
            allowed.add(ANY_PORT)
            continue
        base, _, port = pattern.rpartition(":")
        if port == ANY_PORT and origin_of(base):
            allowed.add(f"{origin_of(base)}:{ANY_PORT}")
            continue
        origin = origin_of(pattern)
        if origin is None:
            log.warning("ENGINE_CORS_ORIGINS: %r is not an origin (scheme://host[:port]); ignored",
                        raw)
            continue
        allowed.add(origin)
    return frozenset(allowed)


def is_allowed(origin: str, allowed: frozenset[str]) -> bool:
    """Whether a request's `Origin` header names an origin the engine answers CORS for."""
    if ANY_PORT in allowed:
        return bool(origin_of(origin))
    exact = origin_of(origin)
    if exact is None:  # "null" (a sandboxed frame, a file:// page) or garbage
        return False
    if exact in allowed:
        return True
    parts = urlsplit(exact)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}:{ANY_PORT}" in allowed


@web.middleware
async def preflight(request: web.Request, handler) -> web.StreamResponse:
    """Answer a CORS preflight here: it carries no key, and no vendor route takes OPTIONS."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return await handler(request)
    origin = request.headers.get("Origin", "")
    headers = {"Vary": "Origin"}
    if not is_allowed(origin, request.app[ORIGINS]):
        log.info("CORS preflight from %r refused: not in ENGINE_CORS_ORIGINS", origin[:200])
        return web.Response(status=403, text="origin not allowed", headers=headers)
    headers.update({
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": ALLOW_METHODS,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Max-Age": str(MAX_AGE_S),
    })
    return web.Response(status=204, headers=headers)


async def allow_origin(request: web.Request, response: web.StreamResponse) -> None:
    """Just before any response's headers leave: the allowed origin, echoed (never `*`)."""
    if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
        return  # the preflight answer already says everything
    if "Origin" not in response.headers.get("Vary", ""):
        response.headers.add("Vary", "Origin")
    origin = request.headers.get("Origin")
    if origin is None:
        return
    if is_allowed(origin, request.app[ORIGINS]):
        response.headers["Access-Control-Allow-Origin"] = origin
    else:
        log.info("CORS: %s %s from origin %r gets no Access-Control-Allow-Origin",
                 request.method, request.path, origin[:200])


def add_cors(app: web.Application, origins: Iterable[str]) -> None:
    """Answer CORS on `app` for `origins` (see `normalise`)."""
    app[ORIGINS] = normalise(origins)
    app.middlewares.append(preflight)
    app.on_response_prepare.append(allow_origin)
