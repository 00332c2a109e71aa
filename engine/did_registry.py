"""The live D-ID streams of one engine, and what every D-ID handler uses to reach them.

The registry keeps the sessions by id; `did_endpoint` wraps a handler with Basic auth and D-ID
shaped errors (https://docs.d-id.com/reference/overview-3).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import wraps
from typing import Protocol

import httpx
from aiohttp import web

from .config import EngineConfig
from .did_errors import DidError, invalid, stream_error
from .fetching import SourceError, SourceReader
from .stream_errors import StreamRequestError
from .stream_session import Player, StreamSession

log = logging.getLogger(__name__)


# -- the avatar behind a stream -----------------------------------------------------------------


class AvatarFactory(Protocol):
    """Turns a photo (or a bundled presenter) into a player whose tracks a stream sends."""

    async def from_image(self, image: bytes, *, resolution: int, fps: int) -> Player: ...

    async def from_presenter(
        self, presenter_id: str | None, *, resolution: int, fps: int
    ) -> Player: ...


# -- session ids --------------------------------------------------------------------------------


def new_session_id() -> str:
    """A session id shaped like D-ID's: the load balancer's sticky cookie, returned verbatim.

    D-ID's `session_id` is the AWSALB cookie string ("AWSALB=...; Expires=...; Path=/; ...")
    and clients echo it back in every body. Only the AWSALB value identifies the session.
    """
    token = secrets.token_urlsafe(48)
    expires = format_datetime(datetime.now(UTC) + timedelta(days=7), usegmt=True)
    return (
        f"AWSALB={token}; Expires={expires}; Path=/; "
        f"AWSALBCORS={token}; Expires={expires}; Path=/; SameSite=None; Secure"
    )


def session_token(session_id: str) -> str:
    for part in session_id.split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name == "AWSALB":
            return value
    return session_id.strip()


# -- fetching sources -----------------------------------------------------------------------------


async def read_source(registry: StreamRegistry, url: str, *, what: str, max_bytes: int) -> bytes:
    try:
        return await registry.reader.read(url, what=what, max_bytes=max_bytes)
    except SourceError as exc:
        raise invalid(str(exc)) from exc


# -- the registry of live streams ------------------------------------------------------------------


class StreamRegistry:
    """Every live stream of this engine, by id; sessions remove themselves when they close."""

    def __init__(self, config: EngineConfig, avatars: AvatarFactory) -> None:
        self.config = config
        self.avatars = avatars
        self.sessions: dict[str, StreamSession] = {}
        self.opening = 0  # streams whose avatar is being built, counted against max_streams
        self.chats: dict[str, list[dict]] = {}
        self.client: httpx.AsyncClient | None = None
        self.reader: SourceReader | None = None
        self.llm: Callable[[list[dict]], Awaitable[str]] | None = None
        self.instance: str | None = None
        # Set by did_agents when it is mounted (blocking; called through a thread):
        # (agent_id, question) -> (system messages, knowledge matches), and agent_id -> photo URL.
        self.chat_context: Callable[[str, str], tuple[list[dict], list[dict]]] | None = None
        self.agent_photo: Callable[[str], str | None] | None = None

    def get(self, kind: str, stream_id: str, owner: str | None = None) -> StreamSession:
        session = self.sessions.get(stream_id)
        if (
            session is None
            or session.kind != kind
            or (owner is not None and session.owner != owner)
        ):
            raise DidError(404, "NotFoundError", f"stream {stream_id} not found")
        return session

    def forget(self, session: StreamSession) -> None:
        if self.sessions.get(session.id) is session:
            del self.sessions[session.id]

    async def start(self, app: web.Application) -> None:
        self.client = SourceReader.new_client(self.config)
        self.reader = SourceReader(self.config, self.client)

    async def stop(self, app: web.Application) -> None:
        await asyncio.gather(
            *(s.close("engine shutting down") for s in list(self.sessions.values())),
            return_exceptions=True,
        )
        if self.client is not None:
            await self.client.aclose()


STREAMS = web.AppKey("did_streams", StreamRegistry)


# -- handlers -------------------------------------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def did_endpoint(handler: Handler) -> Handler:
    """Basic auth, D-ID error bodies, and no exception ever escaping to kill the engine."""

    @wraps(handler)
    async def endpoint(request: web.Request) -> web.StreamResponse:
        registry = request.app[STREAMS]
        if not _authorized(request, registry.config.api_key):
            return web.json_response(
                {
                    "kind": "AuthorizationError",
                    "description": "missing or wrong Authorization: Basic <api key>",
                    "message": "Unauthorized",
                },
                status=401,
            )
        try:
            return await handler(request)
        except DidError as exc:
            return exc.response()
        except StreamRequestError as exc:
            return stream_error(exc).response()
        except web.HTTPException:
            raise
        except Exception:
            log.exception("%s %s failed", request.method, request.path)
            return DidError(500, "InternalServerError", "Stream Error").response()

    return endpoint


def _authorized(request: web.Request, api_key: str) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return False
    return secrets.compare_digest(credentials.strip().encode(), api_key.encode())


def received_at(request: web.Request) -> float:
    """When the POST reached the engine: the parent's stamp (X-Engine-Received, on the clock
    all processes share) if it came through the parent, else now."""
    now = time.monotonic()
    try:
        stamped = float(request.headers.get("X-Engine-Received", ""))
    except ValueError:
        return now
    return stamped if now - 60 < stamped <= now else now


def kind_of(request: web.Request) -> str:
    return request.match_info.get("kind") or "agents"


def session_of(request: web.Request) -> StreamSession:
    registry = request.app[STREAMS]
    return registry.get(
        kind_of(request), request.match_info["stream_id"], request.match_info.get("agent_id")
    )


def check_session_id(session: StreamSession, body: dict, name: str = "session_id") -> None:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise invalid(f"{name} is required: send back the session_id the stream was created with")
    if not secrets.compare_digest(
        session_token(value).encode(), session_token(session.session_id).encode()
    ):
        raise DidError(403, "SessionError", f"{name} does not belong to stream {session.id}")
