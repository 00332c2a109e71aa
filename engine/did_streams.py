"""D-ID streams, served locally: Talks, Clips and (minimal) Agents over real WebRTC.

Paths, bodies, responses and data-channel events follow D-ID's docs (Talks streams:
https://docs.d-id.com/reference/overview-3, and the Agents streams guide): create a stream (201 with id, session_id, the
SDP offer and ICE servers), post the SDP answer, trickle ICE (no candidate = end of candidates),
post talks, DELETE. Errors are D-ID shaped: ``{"kind": ..., "description": ...}``.
Engine-only extensions are marked as such; a client written for D-ID never needs them.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable

from aiohttp import web

from .config import EngineConfig
from .did_chat import create_chat, send_chat_message
from .did_errors import DidError, NoFace, NotImage, UnknownPresenter, invalid
from .did_registry import (
    STREAMS,
    AvatarFactory,
    StreamRegistry,
    check_session_id,
    did_endpoint,
    kind_of,
    new_session_id,
    read_source,
    received_at,
    session_of,
)
from .did_requests import (
    CreateStream,
    IceRequest,
    TalkRequest,
    decode_audio,
    parse_answer,
    read_json,
)
from .roles import stream_id as stream_id_for
from .stream_errors import NotAnswered
from .stream_session import StreamSession, StreamState, Talk

log = logging.getLogger(__name__)

KINDS = ("talks", "clips")


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
            image = await read_source(
                registry, request.source_url, what="source_url",
                max_bytes=registry.config.max_source_bytes,
            )
            return await avatars.from_image(image, resolution=resolution, fps=fps)
        photo = None
        if kind == "agents" and owner and registry.agent_photo is not None:
            photo = await asyncio.to_thread(registry.agent_photo, owner)
        if photo:  # an agent created here with a photo: its own face
            image = await read_source(
                registry, photo, what="the agent's source_url",
                max_bytes=registry.config.max_source_bytes,
            )
            return await avatars.from_image(image, resolution=resolution, fps=fps)
        if kind == "agents":  # an agent made elsewhere: a presenter id, else the default
            try:
                return await avatars.from_presenter(owner, resolution=resolution, fps=fps)
            except UnknownPresenter:
                return await avatars.from_presenter(None, resolution=resolution, fps=fps)
        return await avatars.from_presenter(request.presenter_id, resolution=resolution, fps=fps)
    except NotImage as exc:
        raise invalid(f"source_url is not a usable image: {exc}") from exc
    except NoFace as exc:
        raise DidError(400, "FaceError", f"no face found in the source image: {exc}") from exc
    except UnknownPresenter as exc:
        raise invalid(f"unknown presenter_id {request.presenter_id!r}") from exc


@did_endpoint
async def create_stream(request: web.Request) -> web.Response:
    registry = request.app[STREAMS]
    kind, owner = kind_of(request), request.match_info.get("agent_id")
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
    stream_id = stream_id_for(registry.instance)
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
    session = session_of(request)
    body = await read_json(request)
    check_session_id(session, body)
    await session.accept_answer(parse_answer(body))
    return web.json_response({"status": "success"})


@did_endpoint
async def add_ice_candidate(request: web.Request) -> web.Response:
    session = session_of(request)
    body = await read_json(request)
    check_session_id(session, body)
    ice = IceRequest.parse(body)
    await session.add_ice_candidate(ice.candidate, ice.sdp_mid, ice.sdp_mline_index)
    return web.json_response({"status": "success"})


@did_endpoint
async def create_talk(request: web.Request) -> web.Response:
    received = received_at(request)
    registry = request.app[STREAMS]
    session = session_of(request)
    body = await read_json(request)
    check_session_id(session, body)
    talk = TalkRequest.parse(body, registry.config)
    if session.state is StreamState.OFFERED:  # fail fast, before downloading any audio
        raise NotAnswered("no answer")
    prefix = {"talks": "tlk", "clips": "clp"}.get(session.kind, "vid")
    video_id = f"{prefix}_{secrets.token_urlsafe(12)}"
    if talk.text is not None:
        await session.say(Talk(video_id=video_id, text=talk.text, received_at=received))
    else:
        data = await read_source(
            registry, talk.audio_url, what="script.audio_url",
            max_bytes=registry.config.max_audio_bytes,
        )
        pcm, rate = await asyncio.to_thread(decode_audio, data)
        await session.say(
            Talk(video_id=video_id, pcm=pcm, sample_rate=rate, received_at=received)
        )
    answer = {"status": "started", "session_id": session.session_id, "video_id": video_id}
    if session.kind == "talks":
        answer["talkId"] = video_id
    return web.json_response(answer)


@did_endpoint
async def delete_stream(request: web.Request) -> web.Response:
    session = session_of(request)
    check_session_id(session, await read_json(request))
    await session.close("deleted")
    return web.json_response({"status": "success"})


@did_endpoint
async def interrupt_stream(request: web.Request) -> web.Response:
    """Engine-only extension: barge-in over REST (D-ID's fluent streams use the data channel)."""
    session = session_of(request)
    check_session_id(session, await read_json(request))
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


# -- wiring ---------------------------------------------------------------------------------------


def add_routes(
    app: web.Application,
    config: EngineConfig,
    *,
    avatars: AvatarFactory,
    llm: Callable[[list[dict]], Awaitable[str]] | None = None,
    instance: str | None = None,
) -> None:
    """Mount the Talks, Clips and Agents stream routes and keep their registry on the app.

    `instance` tags the stream ids with this media process (see roles.stream_id).
    """
    registry = StreamRegistry(config, avatars)
    registry.llm = llm
    registry.instance = instance
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
