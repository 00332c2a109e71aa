"""The engine process: one aiohttp application standing in for D-ID, Deepgram and Groq.

`build_app(config)` composes the protocol modules; each keeps its state on the app. The Deepgram
and Groq modules are optional at import time so that the streams work on their own (and so a
broken or missing model never takes the D-ID part down with it).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import did_streams
from .config import EngineConfig
from .loopback_ice import use_loopback_host_candidates

log = logging.getLogger(__name__)

CONFIG = web.AppKey("engine_config", EngineConfig)
MODULES = web.AppKey("engine_modules", dict)
STARTED = web.AppKey("engine_started", float)


class LocalAvatars:
    """did_streams' AvatarFactory on the local talking head: face, renderer, Piper, player.

    The Piper voice loads once (at start-up, in a thread); faces are found once per image and
    cached; each stream gets its own renderer and player.
    """

    def __init__(self, config: EngineConfig, *, speaker=None) -> None:
        self.config = config
        self._speaker = speaker  # a loaded tts.Speaker may be shared (tests do)
        self._speaker_lock = asyncio.Lock()
        self._faces = None

    async def load(self) -> None:
        await self._shared_speaker()

    async def _shared_speaker(self):
        async with self._speaker_lock:
            if self._speaker is None:
                from . import tts

                started = time.perf_counter()
                self._speaker = await asyncio.to_thread(tts.load_speaker)
                log.info("piper voice loaded in %.2f s", time.perf_counter() - started)
        return self._speaker

    async def from_image(self, image: bytes, *, resolution: int, fps: int):
        from . import face

        def find() -> tuple[Any, Any]:
            if self._faces is None:
                self._faces = face.FaceFinder()
            try:
                rgb = face.decode_image(image)
                return rgb, self._faces.find_in_image(rgb)
            except face.NotAnImage as exc:
                raise did_streams.NotImage(str(exc)) from exc
            except face.NoFaceFound as exc:
                raise did_streams.NoFace(str(exc)) from exc

        rgb, landmarks = await asyncio.to_thread(find)
        return await self._player(rgb, landmarks, resolution, fps)

    async def from_presenter(self, presenter_id: str | None, *, resolution: int, fps: int):
        from . import face

        def find() -> tuple[Any, Any]:
            if self._faces is None:
                self._faces = face.FaceFinder()
            try:
                rgb = face.presenter_image(presenter_id or face.DEFAULT_PRESENTER)
            except face.UnknownPresenter as exc:
                raise did_streams.UnknownPresenter(presenter_id) from exc
            return rgb, self._faces.find_in_image(rgb)

        rgb, landmarks = await asyncio.to_thread(find)
        return await self._player(rgb, landmarks, resolution, fps)

    async def _player(self, rgb, landmarks, resolution: int, fps: int):
        from .player import AvatarPlayer
        from .renderer import TalkingHeadRenderer

        speaker = await self._shared_speaker()
        renderer = await asyncio.to_thread(TalkingHeadRenderer, rgb, landmarks, resolution)
        return AvatarPlayer(renderer, speaker, fps=fps)


async def health(request: web.Request) -> web.Response:
    app = request.app
    registry = app[did_streams.STREAMS]
    return web.json_response(
        {
            "status": "ok",
            "uptime_s": round(time.monotonic() - app[STARTED], 1),
            "streams": len(registry.sessions),
            "modules": app[MODULES],
        }
    )


def build_app(
    config: EngineConfig | None = None,
    *,
    avatars: did_streams.AvatarFactory | None = None,
    optional_modules: tuple[str, ...] | None = None,
) -> web.Application:
    """The engine's aiohttp application: D-ID streams, Deepgram live, Groq chat, /health.

    `optional_modules` (default: config.optional_modules) names the other protocol modules;
    one that is missing, fails to import, or fails to load its model at start-up is logged
    and left out, and the rest of the engine serves on.
    """
    config = config or EngineConfig.from_env()
    if config.loopback_ice:
        use_loopback_host_candidates()
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[CONFIG] = config
    app[STARTED] = time.monotonic()
    app[MODULES] = {"did_streams": True}
    app.router.add_get("/health", health)

    llm = None
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

    avatars = avatars or LocalAvatars(config)
    did_streams.add_routes(app, config, avatars=avatars, llm=llm)
    if isinstance(avatars, LocalAvatars):

        async def load_voice(app: web.Application) -> None:
            await avatars.load()

        app.on_startup.append(load_voice)
    return app


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
        return await complete(app, messages)

    return answer


def main() -> None:
    """`python -m streaming.engine.server`: the engine without Django (reads ENGINE_* env)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = EngineConfig.from_env()
    web.run_app(build_app(config), host=config.host, port=config.port)


if __name__ == "__main__":
    main()
