"""The engine's aiohttp applications standing in for D-ID, Deepgram, Groq and OpenAI speech.

`build_app(config)` composes the protocol modules in one process (tests, `python -m
engine.server`); `build_role_app(role, ...)` is one child's share of them when the engine runs
as processes (supervisor.py). Each module keeps its state on the app. The Deepgram and Groq
modules are optional at import time so that the streams work on their own (and so a broken or
missing model never takes the D-ID part down with it).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from . import (
    catalog,
    did_agents,
    did_errors,
    did_registry,
    did_streams,
    openai_speech,
    presenters,
    roles,
)
from .chat_tuning import FITTED_HEADER
from .config import EngineConfig
from .cors import add_cors
from .did_chat import CHAT_MAX_TOKENS, CHAT_TEMPERATURE
from .loopback_ice import use_loopback_host_candidates
from .media_claim import MediaClaim

log = logging.getLogger(__name__)

CONFIG = web.AppKey("engine_config", EngineConfig)
MODULES = web.AppKey("engine_modules", dict)
STARTED = web.AppKey("engine_started", float)


class LocalAvatars:
    """did_registry's AvatarFactory on the local talking head: face, renderer, Piper, player.

    The Piper voice loads once (at start-up, in a thread); faces are found once per image and
    cached; each stream gets its own renderer and player; a face's idle loop is encoded once
    and replayed by all its streams (idle_loop.py).
    """

    def __init__(self, config: EngineConfig, *, speaker=None) -> None:
        self.config = config
        self._speaker = speaker  # a loaded tts.Speaker may be shared (tests do)
        self._speaker_lock = asyncio.Lock()
        self._faces = None
        self._idle_loops = None
        self._claim = MediaClaim.from_env()  # shared with the LLM process, when there is one

    async def load(self) -> None:
        await self._shared_speaker()

    async def speaker(self):
        """The loaded Piper voice (also what the OpenAI speech route speaks with)."""
        return await self._shared_speaker()

    async def _shared_speaker(self):
        async with self._speaker_lock:
            if self._speaker is None:
                from . import tts  # heavy: Piper and onnxruntime load only in the media process

                started = time.perf_counter()
                self._speaker = await asyncio.to_thread(tts.load_speaker)
                log.info("piper voice loaded in %.2f s", time.perf_counter() - started)
        return self._speaker

    async def from_image(self, image: bytes, *, resolution: int, fps: int):
        from . import face  # heavy: OpenCV loads only in the media process

        def find() -> tuple[Any, Any]:
            if self._faces is None:
                self._faces = face.FaceFinder()
            try:
                rgb = face.decode_image(image, max_pixels=self.config.max_image_pixels)
                return rgb, self._faces.find_in_image(rgb)
            except face.NotAnImage as exc:
                raise did_errors.NotImage(str(exc)) from exc
            except face.NoFaceFound as exc:
                raise did_errors.NoFace(str(exc)) from exc

        rgb, landmarks = await asyncio.to_thread(find)
        return await self._player(rgb, landmarks, resolution, fps)

    async def from_presenter(self, presenter_id: str | None, *, resolution: int, fps: int):
        from . import face  # heavy: OpenCV loads only in the media process

        def find() -> tuple[Any, Any]:
            if self._faces is None:
                self._faces = face.FaceFinder()
            try:
                rgb = presenters.presenter_image(presenter_id or presenters.DEFAULT_PRESENTER)
            except presenters.UnknownPresenter as exc:
                raise did_errors.UnknownPresenter(presenter_id) from exc
            return rgb, self._faces.find_in_image(rgb)

        rgb, landmarks = await asyncio.to_thread(find)
        return await self._player(rgb, landmarks, resolution, fps)

    async def _player(self, rgb, landmarks, resolution: int, fps: int):
        # heavy: the player (aiortc, PyAV) and renderer load only in the media process
        from .idle_loop import IdleLoops
        from .player import AvatarPlayer
        from .renderer import TalkingHeadRenderer

        speaker = await self._shared_speaker()
        renderer = await asyncio.to_thread(TalkingHeadRenderer, rgb, landmarks, resolution)
        if self._idle_loops is None:
            self._idle_loops = IdleLoops()
        return AvatarPlayer(
            renderer, speaker, fps=fps, idle_loops=self._idle_loops, claim=self._claim
        )


async def health(request: web.Request) -> web.Response:
    app = request.app
    registry = app.get(did_registry.STREAMS)
    body = {
        "status": "ok",
        "pid": os.getpid(),
        "uptime_s": round(time.monotonic() - app[STARTED], 1),
        "modules": app[MODULES],
    }
    if registry is not None:
        body["streams"] = len(registry.sessions)
    return web.json_response(body)


def build_app(
    config: EngineConfig | None = None,
    *,
    avatars: did_registry.AvatarFactory | None = None,
    optional_modules: tuple[str, ...] | None = None,
    streams: bool = True,
    llm: Callable[[list[dict]], Awaitable[str]] | None = None,
    instance: str | None = None,
    cors: bool = True,
) -> web.Application:
    """The engine's aiohttp application: D-ID streams and OpenAI speech, Deepgram live, Groq
    chat, /health.

    All in one process (tests, and `build_role_app` for one role each). `cors` answers
    browsers on the allowed origins (off in the children: the parent's port answers them).
    `optional_modules` (default: config.optional_modules) names the other protocol modules; one that is missing,
    fails to import, or fails to load its model at start-up is logged and left out, and the
    rest of the engine serves on. `streams=False` leaves the D-ID streams out; `llm` answers
    agents chats when the Groq module is not in this process.
    """
    config = config or EngineConfig.from_env()
    if streams and config.loopback_ice:
        use_loopback_host_candidates()
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[CONFIG] = config
    app[STARTED] = time.monotonic()
    app[MODULES] = {"did_streams": True} if streams else {}
    if cors:
        add_cors(app, config.cors_origins)
    app.router.add_get("/health", health)
    for name in config.optional_modules if optional_modules is None else optional_modules:
        module = _import_optional(name)
        app[MODULES][name] = module is not None
        if module is None:
            continue
        hooks = len(app.on_startup)
        try:
            module.add_routes(app, config)
        except Exception:
            log.exception("engine module %s could not be mounted", name)
            app[MODULES][name] = False
            continue
        for index in range(hooks, len(app.on_startup)):
            app.on_startup[index] = _guarded_startup(name, app.on_startup[index])
        if name == "groq_chat":
            llm = _llm_of(module, app)

    if not streams:
        return app
    avatars = avatars or LocalAvatars(config)
    did_streams.add_routes(app, config, avatars=avatars, llm=llm, instance=instance)
    did_agents.add_routes(app, config.knowledge_db)
    catalog.add_routes(app, config)
    speaker = avatars.speaker if isinstance(avatars, LocalAvatars) else LocalAvatars(config).speaker
    openai_speech.add_routes(app, config, speaker=speaker)
    if isinstance(avatars, LocalAvatars):

        async def load_voice(app: web.Application) -> None:
            await avatars.load()

        app.on_startup.append(load_voice)
    return app


def build_role_app(
    role: str, config: EngineConfig, *, instance: str | None = None, peers: dict | None = None
) -> web.Application:
    """One child's application: the media (D-ID streams), the STT or the LLM role alone."""
    if role == roles.MEDIA:
        llm_socket = (peers or {}).get(roles.LLM)
        llm = remote_llm(llm_socket, config.api_key) if llm_socket else None
        return build_app(config, optional_modules=(), llm=llm, instance=instance, cors=False)
    return build_app(
        config, optional_modules=(roles.MODULE_OF_ROLE[role],), streams=False, cors=False
    )


def remote_llm(socket_path: str, api_key: str) -> Callable[[list[dict]], Awaitable[str]]:
    """Agents chat from the media process: a Groq chat completion from the LLM process."""

    async def answer(messages: list[dict]) -> str:
        body = {"model": "llama-3.1-8b-instant", "messages": messages,
                "temperature": CHAT_TEMPERATURE, "max_tokens": CHAT_MAX_TOKENS}
        headers = {"Authorization": f"Bearer {api_key}", FITTED_HEADER: "1"}
        try:
            connector = aiohttp.UnixConnector(path=socket_path)
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.post(
                    "http://llm/openai/v1/chat/completions", json=body, headers=headers
                ) as response,
            ):
                reply = await response.json(content_type=None)
        except (aiohttp.ClientError, ValueError) as exc:
            log.warning("the LLM process did not answer an agents chat: %r", exc)
            raise RuntimeError("the chat model is not available") from exc
        if response.status != 200:
            log.warning("the LLM process answered an agents chat with %s", response.status)
            raise RuntimeError("the chat model is not available")
        return reply["choices"][0]["message"]["content"]

    return answer


def _import_optional(name: str):
    qualified = f"{__package__}.{name}"
    try:
        return importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name == qualified:
            log.warning("engine module %s is not there yet; its routes are not served", name)
            return None
        log.exception("engine module %s failed to import", name)
        return None
    except Exception:
        log.exception("engine module %s failed to import", name)
        return None


def _guarded_startup(name: str, hook: Callable[[web.Application], Awaitable[None]]):
    """A module's start-up hook (model loading) whose failure only takes that module down."""

    async def start(app: web.Application) -> None:
        try:
            await hook(app)
        except Exception:
            log.exception("engine module %s failed to start; its routes will fail", name)
            app[MODULES][name] = False

    return start


def _llm_of(module, app: web.Application) -> Callable[[list[dict]], Awaitable[str]] | None:
    """The Groq module's in-process completion, for agents chats, if it offers one."""
    complete = getattr(module, "complete", None)
    if complete is None:
        return None

    async def answer(messages: list[dict]) -> str:
        if not app[MODULES].get("groq_chat"):
            raise RuntimeError("the chat model is not available")
        return await complete(app, messages, temperature=CHAT_TEMPERATURE,
                              max_tokens=CHAT_MAX_TOKENS, fitted=True)

    return answer


def main() -> None:
    """`python -m engine.server`: the whole engine in one process (benchmarks of one part)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = EngineConfig.from_env()
    config.check_safe()
    web.run_app(build_app(config), host=config.host, port=config.port)


if __name__ == "__main__":
    main()
