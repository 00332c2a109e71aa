"""Deepgram's live transcription WebSocket (`GET /v1/listen`), served by the local engine.

Wire-compatible with Deepgram's v1 live API so the official `deepgram-sdk` and plain WebSocket
clients work unchanged:

- auth: `Authorization: Token <key>` (what the SDK sends) or `Bearer <key>`, or, for browsers,
  the `Sec-WebSocket-Protocol: token, <key>` pair; a wrong key is refused with HTTP 401 before
  the upgrade (the SDK turns that into `ApiError(status_code=401)`).
- in: binary messages of raw `linear16` audio; text messages `KeepAlive`, `Finalize`,
  `CloseStream` (and `Configure`, answered but with little to configure).
- out: `Results` (interim and final), `SpeechStarted` (`vad_events=true`), `UtteranceEnd`
  (`utterance_end_ms`), `Metadata` before a clean close, `Error` for a message we cannot parse.
- errors after the upgrade close the socket like Deepgram does: 1008 with a readable reason
  for a request we cannot serve (e.g. `encoding=opus`; an `Error` message says the same first),
  1011 `NET-0001` after `idle_timeout` seconds without audio or KeepAlive.

The parameters are validated after the upgrade rather than with an HTTP 400, because browsers
and the SDK cannot read an HTTP error body but can all read a close reason.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import uuid
import weakref
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, web

from .audio_in import Linear16Decoder, UnsupportedAudio
from .config import config_value, engine_key
from .listen_params import InvalidParameter, ListenParams
from .listen_stream import ListenStream
from .speech_models import (
    DEFAULT_STT_MODEL,
    SpeechRecognizer,
    UnknownSttModel,
    configured_stt_model,
)

logger = logging.getLogger(__name__)

IDLE_TIMEOUT = 10.0  # Deepgram closes a stream that sent nothing for 10 s (NET-0001)
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass
class ListenSettings:
    api_key: str
    idle_timeout: float = IDLE_TIMEOUT
    streams: weakref.WeakSet = field(default_factory=weakref.WeakSet)


SPEECH_RECOGNIZER = web.AppKey("speech_recognizer", SpeechRecognizer)
LISTEN_SETTINGS = web.AppKey("deepgram_listen_settings", ListenSettings)


def add_routes(
    app: web.Application,
    config: object | None = None,
    *,
    api_key: str | None = None,
    idle_timeout: float | None = None,
) -> None:
    """Mount `GET /v1/listen` and load the speech models when the app starts.

    The key is `api_key`, else `config.api_key` (attribute or mapping key), else
    $ENGINE_API_KEY, else the local default.
    """
    app[LISTEN_SETTINGS] = ListenSettings(
        api_key=engine_key(config, api_key),
        idle_timeout=idle_timeout
        or float(config_value(config, "listen_idle_timeout") or IDLE_TIMEOUT),
    )
    app.router.add_get("/v1/listen", listen)
    app.on_startup.append(_load_models)
    app.on_shutdown.append(_close_streams)
    app.on_cleanup.append(_unload_models)


def get_recognizer(app: web.Application) -> SpeechRecognizer:
    """The loaded speech models, for other engine modules that need a transcript."""
    return app[SPEECH_RECOGNIZER]


async def _load_models(app: web.Application) -> None:
    if SPEECH_RECOGNIZER in app:
        return
    try:
        model = configured_stt_model()
    except UnknownSttModel as error:  # a typo should not leave the engine without ears
        logger.error("%s; using %s", error, DEFAULT_STT_MODEL)
        model = DEFAULT_STT_MODEL
    recognizer = await asyncio.to_thread(SpeechRecognizer.load, model)
    app[SPEECH_RECOGNIZER] = recognizer
    logger.info(
        "speech models (%s + Silero VAD) loaded in %.2f s",
        recognizer.model_name,
        recognizer.load_seconds,
    )


async def _close_streams(app: web.Application) -> None:
    for stream in list(app[LISTEN_SETTINGS].streams):
        await stream.shut_down()


async def _unload_models(app: web.Application) -> None:
    if SPEECH_RECOGNIZER in app:
        app[SPEECH_RECOGNIZER].close()


# --------------------------------------------------------------------------- the handshake


async def listen(request: web.Request) -> web.StreamResponse:
    settings = request.app[LISTEN_SETTINGS]
    request_id = str(uuid.uuid4())
    headers = {"dg-request-id": request_id}
    presented, via_subprotocol = _presented_key(request)
    if presented is None or not hmac.compare_digest(presented.encode(), settings.api_key.encode()):
        message = "Invalid credentials."
        return web.json_response(
            {"err_code": "INVALID_AUTH", "err_msg": message, "request_id": request_id},
            status=401,
            headers={**headers, "dg-error": message},
        )
    recognizer = request.app.get(SPEECH_RECOGNIZER)
    if recognizer is None:
        message = "The speech models are still loading."
        return web.json_response(
            {"err_code": "SERVICE_UNAVAILABLE", "err_msg": message, "request_id": request_id},
            status=503,
            headers={**headers, "dg-error": message},
        )
    ws = web.WebSocketResponse(
        protocols=("token", "bearer") if via_subprotocol else (),
        max_msg_size=MAX_MESSAGE_BYTES,
    )
    ws.headers.update(headers)
    await ws.prepare(request)
    try:
        params = ListenParams.from_query(request.query)
        decoder = Linear16Decoder(params.sample_rate, params.channels)
    except (InvalidParameter, UnsupportedAudio) as error:
        await _refuse(ws, str(error))
        return ws
    stream = ListenStream(ws, recognizer, params, decoder, request_id, settings.idle_timeout)
    settings.streams.add(stream)
    try:
        await stream.run()
    finally:
        settings.streams.discard(stream)
    return ws


def _presented_key(request: web.Request) -> tuple[str | None, bool]:
    """The key from `Authorization: Token|Bearer <key>` or the `token, <key>` subprotocols."""
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() in ("token", "bearer") and value.strip():
        return value.strip(), False
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if len(protocols) >= 2 and protocols[0].lower() in ("token", "bearer") and protocols[1]:
        return protocols[1], True
    return None, False


async def _refuse(ws: web.WebSocketResponse, reason: str) -> None:
    await ws.send_json({"type": "Error", "variant": "UnsupportedRequest", "description": reason})
    await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=_close_reason(reason))


def _close_reason(text: str) -> bytes:
    return text.encode()[:123].decode(errors="ignore").encode()  # RFC 6455: 123 bytes at most
