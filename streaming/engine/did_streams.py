"""D-ID streams, served locally: Talks, Clips and (minimal) Agents over real WebRTC.

Paths, bodies, responses and data-channel events follow D-ID's reference docs
(/work/shared/reference/000_, 001_, 002_, 004_): create a stream (201 with id, session_id, the
SDP offer and ICE servers), post the SDP answer, trickle ICE (no candidate = end of candidates),
post talks, DELETE. Errors are D-ID shaped: ``{"kind": ..., "description": ...}``.
Engine-only extensions are marked as such; a client written for D-ID never needs them.
"""

from __future__ import annotations

import asyncio
import html
import logging
import math
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import wraps
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

import httpx
import numpy as np
from aiohttp import web

from .config import MAX_SESSION_TIMEOUT, EngineConfig
from .stream_session import (
    NotAnswered,
    Player,
    StreamClosed,
    StreamOptions,
    StreamRequestError,
    StreamSession,
    StreamState,
    Talk,
)

log = logging.getLogger(__name__)

KINDS = ("talks", "clips")
CODEC_BY_COMPATIBILITY = {"on": "VP8", "off": "H264", "auto": "VP8"}
MAX_RESOLUTION = 1080
MIN_RENDER_SIDE = 64
MAX_AUDIO_SECONDS = 300
LLM_TIMEOUT = 60.0


# -- errors -------------------------------------------------------------------------------------


class DidError(Exception):
    """An error answered the way D-ID answers: HTTP status plus ``{kind, description}``."""

    def __init__(self, status: int, kind: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.kind = kind
        self.description = description

    def response(self) -> web.Response:
        return web.json_response(
            {"kind": self.kind, "description": self.description}, status=self.status
        )


def invalid(description: str) -> DidError:
    return DidError(400, "ValidationError", description)


def _stream_error(exc: StreamRequestError) -> DidError:
    if isinstance(exc, StreamClosed):
        return DidError(404, "NotFoundError", "stream not found (it was closed)")
    if isinstance(exc, NotAnswered):
        return DidError(
            400,
            "StreamNotReadyError",
            "the stream has no SDP answer yet: POST the answer to .../{id}/sdp before talking",
        )
    return invalid(str(exc))  # AnswerRejected, CandidateRejected


# -- the avatar behind a stream -----------------------------------------------------------------


class AvatarFactory(Protocol):
    """Turns a photo (or a bundled presenter) into a player whose tracks a stream sends."""

    async def from_image(self, image: bytes, *, resolution: int, fps: int) -> Player: ...

    async def from_presenter(
        self, presenter_id: str | None, *, resolution: int, fps: int
    ) -> Player: ...


class NoFace(Exception):
    """The image decodes but has no face to animate."""


class NotImage(Exception):
    """The bytes are not an image."""


class UnknownPresenter(Exception):
    pass


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


# -- request bodies -----------------------------------------------------------------------------


async def read_json(request: web.Request, *, required: bool = True) -> dict[str, Any]:
    if not request.can_read_body:
        if required:
            raise invalid("the request body must be a JSON object")
        return {}
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object")
    return body


def _number(body: dict, name: str, *, low: float, high: float, default: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"{name} must be a number")
    if not low <= value <= high:
        raise invalid(f"{name} must be between {low:g} and {high:g}, got {value:g}")
    return float(value)


def _flag(body: dict, name: str, default: bool = False) -> bool:
    value = body.get(name, default)
    if not isinstance(value, bool):
        raise invalid(f"{name} must be true or false")
    return value


def _text(body: dict, name: str, *, required: bool = False, where: str = "") -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(f"{where}{name} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(f"{where}{name} must be a non-empty string")
    return value


def _object(body: dict, name: str) -> dict:
    value = body.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise invalid(f"{name} must be an object")
    return value


@dataclass(frozen=True)
class CreateStream:
    """POST /talks/streams, /clips/streams or /agents/{id}/streams."""

    source_url: str | None
    presenter_id: str | None
    options: StreamOptions
    face: dict | None = None

    @classmethod
    def parse(cls, kind: str, body: dict, config: EngineConfig) -> CreateStream:
        source_url = presenter_id = None
        if kind == "talks":
            source_url = _text(body, "source_url", required=True)
            _text(body, "driver_url")  # accepted; the local renderer has no driver videos
        elif kind == "clips":
            presenter_id = _text(body, "presenter_id", required=True)
            _text(body, "driver_id")
        else:  # agents: the agent's presenter, or (engine extension) a photo of one's own
            source_url = _text(body, "source_url")
        face = _object(body, "face") or None
        if face is not None:
            _validate_face(face)
        _object(body, "config")  # motion_factor, align_expand_factor, stitch: nothing to tune
        mode = body.get("compatibility_mode", "auto")
        if mode not in CODEC_BY_COMPATIBILITY:
            raise invalid('compatibility_mode must be "on" (VP8), "off" (H264) or "auto"')
        default_timeout = (
            config.agent_session_timeout if kind == "agents" else config.session_timeout
        )
        timeout = _number(
            body, "session_timeout", low=0, high=MAX_SESSION_TIMEOUT, default=default_timeout
        )
        if timeout <= 0:
            raise invalid("session_timeout must be greater than 0")
        resolution = _number(
            body,
            "output_resolution",
            low=0,
            high=MAX_RESOLUTION,
            default=config.default_resolution,
        )
        if resolution != int(resolution):
            raise invalid("output_resolution must be a whole number of pixels")
        resolution = int(resolution) or config.default_resolution
        options = StreamOptions(
            video_codec=CODEC_BY_COMPATIBILITY[mode],
            stream_warmup=_flag(body, "stream_warmup"),
            session_timeout=timeout,
            output_resolution=max(MIN_RENDER_SIDE, resolution),
        )
        return cls(source_url=source_url, presenter_id=presenter_id, options=options, face=face)


def _validate_face(face: dict) -> None:
    top_left, size = face.get("top_left"), face.get("size")
    if top_left is not None and not (
        isinstance(top_left, list)
        and len(top_left) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in top_left)
    ):
        raise invalid("face.top_left must be [x, y]")
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int | float) or size <= 0
    ):
        raise invalid("face.size must be a positive number")


@dataclass(frozen=True)
class TalkRequest:
    """POST /talks/streams/{id}: a text or audio script, optional config, the session id."""

    text: str | None = None
    audio_url: str | None = None
    config: dict = field(default_factory=dict)

    @classmethod
    def parse(cls, body: dict, config: EngineConfig) -> TalkRequest:
        script = body.get("script")
        if not isinstance(script, dict):
            raise invalid("script is required and must be an object")
        talk_config = _object(body, "config")
        if "fluent" in talk_config:
            _flag(talk_config, "fluent")
        if "stitch" in talk_config:
            _flag(talk_config, "stitch")
        if "pad_audio" in talk_config:
            _number(talk_config, "pad_audio", low=0, high=60, default=0)
        kind = script.get("type")
        if kind == "text":
            text = _text(script, "input", required=True, where="script.")
            provider = script.get("provider")
            if provider is not None and not (
                isinstance(provider, dict) and isinstance(provider.get("type"), str)
            ):
                raise invalid("script.provider must be an object with a type")
            if _flag(script, "ssml"):
                text = html.unescape(re.sub(r"<[^>]+>", " ", text))
            text = " ".join(text.split())
            if not text:
                raise invalid("script.input has nothing to say")
            if len(text) > config.max_text_chars:
                raise invalid(
                    f"script.input is {len(text)} characters; the limit is {config.max_text_chars}"
                )
            return cls(text=text, config=talk_config)
        if kind == "audio":
            return cls(
                audio_url=_text(script, "audio_url", required=True, where="script."),
                config=talk_config,
            )
        raise invalid('script.type must be "text" or "audio"')


@dataclass(frozen=True)
class IceRequest:
    """POST .../ice: one candidate, or end-of-candidates (candidate missing, null or "")."""

    candidate: str | None
    sdp_mid: str | None
    sdp_mline_index: int | None

    @classmethod
    def parse(cls, body: dict) -> IceRequest:
        candidate = body.get("candidate")
        if candidate is None or candidate == "":
            return cls(None, None, None)
        if not isinstance(candidate, str):
            raise invalid("candidate must be a string (or null for end-of-candidates)")
        sdp_mid = body.get("sdpMid")
        if sdp_mid is not None and not isinstance(sdp_mid, str):
            raise invalid("sdpMid must be a string")
        index = body.get("sdpMLineIndex")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, int | float) or index != int(index):
                raise invalid("sdpMLineIndex must be a whole number")
            if index < 0:
                raise invalid("sdpMLineIndex must not be negative")
            index = int(index)
        if sdp_mid is None and index is None:
            raise invalid("an ICE candidate needs sdpMid or sdpMLineIndex")
        return cls(candidate, sdp_mid, index)


def parse_answer(body: dict) -> str:
    answer = body.get("answer")
    if not isinstance(answer, dict):
        raise invalid("answer is required: the JSEP answer object {type, sdp}")
    if answer.get("type") != "answer":
        raise invalid('answer.type must be "answer"')
    sdp = answer.get("sdp")
    if not isinstance(sdp, str) or not sdp.strip():
        raise invalid("answer.sdp must be the SDP text of the answer")
    return sdp


# -- fetching sources -----------------------------------------------------------------------------


class SourceReader:
    """Reads source_url / audio_url: from the media root for `/media/...`, else over http(s)."""

    def __init__(self, config: EngineConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client

    async def read(self, url: str, *, what: str, max_bytes: int) -> bytes:
        parts = urlsplit(url)
        local = self._local_path(parts)
        if local is not None:
            try:
                data = await asyncio.to_thread(_read_capped, local, max_bytes)
            except FileNotFoundError:
                if parts.scheme:
                    return await self._fetch(url, parts.hostname or "", what, max_bytes)
                raise invalid(f"{what} not found in the media folder: {url}") from None
            if data is None:
                raise invalid(f"{what} is larger than {max_bytes} bytes")
            return data
        if parts.scheme in ("http", "https") and parts.hostname:
            return await self._fetch(url, parts.hostname, what, max_bytes)
        raise invalid(f"{what} must be an http(s) URL or a {self.config.media_url}... path")

    def _local_path(self, parts) -> Path | None:
        root, prefix = self.config.media_root, self.config.media_url
        if root is None or not parts.path.startswith(prefix):
            return None
        if parts.scheme and (parts.hostname or "").lower() not in self.config.media_hosts:
            return None
        if parts.scheme not in ("", "http", "https"):
            return None
        root = root.resolve()
        path = (root / unquote(parts.path[len(prefix) :])).resolve()
        if not path.is_relative_to(root):
            raise invalid("the media path leaves the media folder")
        return path

    async def _fetch(self, url: str, host: str, what: str, max_bytes: int) -> bytes:
        if not self.config.may_fetch(host):
            raise invalid(f"{what} host {host!r} is not allowed by ENGINE_FETCH_HOSTS")
        chunks, size = [], 0
        try:
            async with self.client.stream("GET", url) as response:
                if response.status_code != 200:
                    raise invalid(f"{what} answered HTTP {response.status_code}: {url}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise invalid(f"{what} is larger than {max_bytes} bytes")
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise invalid(f"{what} is larger than {max_bytes} bytes")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise invalid(f"{what} could not be downloaded ({type(exc).__name__}): {url}") from exc
        return b"".join(chunks)


def _read_capped(path: Path, max_bytes: int) -> bytes | None:
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    return None if len(data) > max_bytes else data


def decode_audio(data: bytes) -> tuple[np.ndarray, int]:
    """An audio file (WAV, MP3, OGG, ...) as mono int16 PCM and its rate; 400 if it is not one."""
    from .tts import NotAudio
    from .tts import decode_audio as decode

    try:
        pcm, rate = decode(data)
    except NotAudio as exc:
        raise invalid(f"script.audio_url is not audio: {exc}") from exc
    if not len(pcm):
        raise invalid("script.audio_url decodes to no audio")
    if len(pcm) > MAX_AUDIO_SECONDS * rate:
        raise invalid(f"script.audio_url is longer than {MAX_AUDIO_SECONDS} s")
    return pcm, rate


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
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.config.fetch_timeout), follow_redirects=True
        )
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
            return _stream_error(exc).response()
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


def _kind_of(request: web.Request) -> str:
    return request.match_info.get("kind") or "agents"


def _session_of(request: web.Request) -> StreamSession:
    registry = request.app[STREAMS]
    return registry.get(
        _kind_of(request), request.match_info["stream_id"], request.match_info.get("agent_id")
    )


def _check_session_id(session: StreamSession, body: dict, name: str = "session_id") -> None:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise invalid(f"{name} is required: send back the session_id the stream was created with")
    if not secrets.compare_digest(
        session_token(value).encode(), session_token(session.session_id).encode()
    ):
        raise DidError(403, "SessionError", f"{name} does not belong to stream {session.id}")


async def _build_player(
    registry: StreamRegistry, kind: str, request: CreateStream, owner: str | None
):
    avatars, fps, resolution = (
        registry.avatars,
        registry.config.fps,
        request.options.output_resolution,
    )
    try:
        if request.source_url is not None:
            image = await registry.reader.read(
                request.source_url, what="source_url", max_bytes=registry.config.max_source_bytes
            )
            return await avatars.from_image(image, resolution=resolution, fps=fps)
        if kind == "agents":  # the engine keeps no agents: a presenter id, else the default
            try:
                return await avatars.from_presenter(owner, resolution=resolution, fps=fps)
            except UnknownPresenter:
                return await avatars.from_presenter(None, resolution=resolution, fps=fps)
        return await avatars.from_presenter(request.presenter_id, resolution=resolution, fps=fps)
    except NotImage as exc:
        raise invalid(f"source_url is not an image: {exc}") from exc
    except NoFace as exc:
        raise DidError(400, "FaceError", f"no face found in the source image: {exc}") from exc
    except UnknownPresenter as exc:
        raise invalid(f"unknown presenter_id {request.presenter_id!r}") from exc


@did_endpoint
async def create_stream(request: web.Request) -> web.Response:
    registry = request.app[STREAMS]
    kind, owner = _kind_of(request), request.match_info.get("agent_id")
    create = CreateStream.parse(kind, await read_json(request), registry.config)
    if len(registry.sessions) + registry.opening >= registry.config.max_streams:
        raise DidError(
            429, "TooManyRequestsError", f"at most {registry.config.max_streams} live streams"
        )
    registry.opening += 1
    try:
        player = await _build_player(registry, kind, create, owner)
    finally:
        registry.opening -= 1
    stream_id = f"strm_{secrets.token_urlsafe(16)}"
    try:
        session = StreamSession(
            stream_id=stream_id,
            kind=kind,
            session_id=new_session_id(),
            player=player,
            options=create.options,
            ice_servers=registry.config.ice_servers,
            on_closed=registry.forget,
            owner=owner,
        )
        registry.sessions[stream_id] = session
        offer = await session.create_offer()
    except BaseException:
        if stream_id in registry.sessions:
            await registry.sessions[stream_id].close("offer failed")
        else:
            player.stop()
        raise
    log.info(
        "stream %s (%s) created: %s %dpx",
        stream_id,
        kind,
        create.options.video_codec,
        create.options.output_resolution,
    )
    body = {
        "id": stream_id,
        "session_id": session.session_id,
        "offer": {"type": offer.type, "sdp": offer.sdp},
        "ice_servers": registry.config.ice_servers,
    }
    if kind == "agents":
        body.update(fluent=False, interrupt_enabled=True)
    return web.json_response(body, status=201)


@did_endpoint
async def start_stream(request: web.Request) -> web.Response:
    session = _session_of(request)
    body = await read_json(request)
    _check_session_id(session, body)
    await session.accept_answer(parse_answer(body))
    return web.json_response({"status": "success"})


@did_endpoint
async def add_ice_candidate(request: web.Request) -> web.Response:
    session = _session_of(request)
    body = await read_json(request)
    _check_session_id(session, body)
    ice = IceRequest.parse(body)
    await session.add_ice_candidate(ice.candidate, ice.sdp_mid, ice.sdp_mline_index)
    return web.json_response({"status": "success"})


@did_endpoint
async def create_talk(request: web.Request) -> web.Response:
    registry = request.app[STREAMS]
    session = _session_of(request)
    body = await read_json(request)
    _check_session_id(session, body)
    talk = TalkRequest.parse(body, registry.config)
    if session.state is StreamState.OFFERED:  # fail fast, before downloading any audio
        raise NotAnswered("no answer")
    prefix = {"talks": "tlk", "clips": "clp"}.get(session.kind, "vid")
    video_id = f"{prefix}_{secrets.token_urlsafe(12)}"
    if talk.text is not None:
        await session.say(Talk(video_id=video_id, text=talk.text))
    else:
        data = await registry.reader.read(
            talk.audio_url, what="script.audio_url", max_bytes=registry.config.max_audio_bytes
        )
        pcm, rate = await asyncio.to_thread(decode_audio, data)
        await session.say(Talk(video_id=video_id, pcm=pcm, sample_rate=rate))
    answer = {"status": "started", "session_id": session.session_id, "video_id": video_id}
    if session.kind == "talks":
        answer["talkId"] = video_id
    return web.json_response(answer)


@did_endpoint
async def delete_stream(request: web.Request) -> web.Response:
    session = _session_of(request)
    _check_session_id(session, await read_json(request))
    await session.close("deleted")
    return web.json_response({"status": "success"})


@did_endpoint
async def interrupt_stream(request: web.Request) -> web.Response:
    """Engine-only extension: barge-in over REST (D-ID's fluent streams use the data channel)."""
    session = _session_of(request)
    _check_session_id(session, await read_json(request))
    session.interrupt()
    return web.json_response({"status": "success"})


@did_endpoint
async def list_streams(request: web.Request) -> web.Response:
    """Engine-only extension: the live streams, for tests, benchmarks and the reaper."""
    registry = request.app[STREAMS]
    kind = request.match_info.get("kind")
    owner = request.match_info.get("agent_id")
    streams = [
        s.describe()
        for s in registry.sessions.values()
        if (kind is None and owner is None)
        or (kind is not None and s.kind == kind)
        or (owner is not None and s.kind == "agents" and s.owner == owner)
    ]
    return web.json_response({"streams": streams})


# -- agents chat (minimal) ------------------------------------------------------------------------


@did_endpoint
async def create_chat(request: web.Request) -> web.Response:
    registry = request.app[STREAMS]
    await read_json(request, required=False)
    chat_id = f"cht_{secrets.token_urlsafe(12)}"
    registry.chats[chat_id] = []
    return web.json_response(
        {"id": chat_id, "agent_id": request.match_info["agent_id"], "created": _now_iso()},
        status=201,
    )


@did_endpoint
async def send_chat_message(request: web.Request) -> web.Response:
    """POST /agents/{agent_id}/chat/{chat_id}: answer with the engine's LLM and speak it."""
    registry = request.app[STREAMS]
    history = registry.chats.get(request.match_info["chat_id"])
    if history is None:
        raise DidError(404, "NotFoundError", f"chat {request.match_info['chat_id']} not found")
    body = await read_json(request)
    stream_id = _text(body, "streamId", required=True)
    session = registry.get("agents", stream_id, request.match_info["agent_id"])
    _check_session_id(session, body, "sessionId")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must be a non-empty list of {role, content}")
    for message in messages:
        if not (
            isinstance(message, dict)
            and message.get("role") in ("user", "assistant", "system")
            and isinstance(message.get("content"), str)
        ):
            raise invalid("each message needs a role (user/assistant/system) and a content string")
        if len(message["content"]) > registry.config.max_text_chars:
            raise invalid(f"a message is longer than {registry.config.max_text_chars} characters")
    if session.state is StreamState.OFFERED:
        raise NotAnswered("no answer")
    new = [{"role": m["role"], "content": m["content"]} for m in messages]
    if history and new[: len(history)] == history:  # the client sent the whole conversation
        history[:] = new
    else:  # D-ID's demos send just the new message
        history.extend(new)
    reply = await _answer(registry, history)
    history.append({"role": "assistant", "content": reply})
    video_id = f"vid_{secrets.token_urlsafe(12)}"
    session.send_message("chat/answer:" + quote(reply, safe=""))  # demos decodeURIComponent it
    await session.say(Talk(video_id=video_id, text=reply[: registry.config.max_text_chars]))
    return web.json_response(
        {
            "chatMode": "Functional",
            "result": reply,
            "context": "",
            "matches": [],
            "video_id": video_id,
        }
    )


async def _answer(registry: StreamRegistry, history: list[dict]) -> str:
    if registry.llm is None:
        last = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
        return f"You said: {last}"
    try:
        reply = (await asyncio.wait_for(registry.llm(history), LLM_TIMEOUT)).strip()
    except (TimeoutError, RuntimeError) as exc:
        reason = str(exc) or type(exc).__name__
        raise DidError(
            503, "ServiceUnavailableError", f"the chat model did not answer: {reason}"
        ) from exc
    return reply or "Sorry, I have nothing to say to that."


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


# -- wiring ---------------------------------------------------------------------------------------


def add_routes(
    app: web.Application,
    config: EngineConfig,
    *,
    avatars: AvatarFactory,
    llm: Callable[[list[dict]], Awaitable[str]] | None = None,
) -> None:
    """Mount the Talks, Clips and Agents stream routes and keep their registry on the app."""
    registry = StreamRegistry(config, avatars)
    registry.llm = llm
    app[STREAMS] = registry
    app.on_startup.append(registry.start)
    app.on_shutdown.append(registry.stop)
    for kind in KINDS:
        base = f"/{{kind:{kind}}}/streams"
        app.router.add_get(base, list_streams)
        app.router.add_post(base, create_stream)
        _add_stream_routes(app, base + "/{stream_id}")
    agents = "/agents/{agent_id}/streams"
    app.router.add_get(agents, list_streams)
    app.router.add_post(agents, create_stream)
    app.router.add_post("/agents/{agent_id}/stream", create_stream)  # the guide's spelling too
    _add_stream_routes(app, agents + "/{stream_id}")
    app.router.add_post("/agents/{agent_id}/chat", create_chat)
    app.router.add_post("/agents/{agent_id}/chat/{chat_id}", send_chat_message)
    app.router.add_get("/streams", list_streams)  # engine-only: every live stream


def _add_stream_routes(app: web.Application, path: str) -> None:
    app.router.add_post(path, create_talk)
    app.router.add_delete(path, delete_stream)
    app.router.add_post(path + "/sdp", start_stream)
    app.router.add_post(path + "/ice", add_ice_candidate)
    app.router.add_post(path + "/interrupt", interrupt_stream)
