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
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web

from .config import config_value, engine_key
from .transcriber import (
    DEFAULT_ENDPOINTING_MS,
    Linear16Decoder,
    LiveEvent,
    LiveOptions,
    LiveTranscription,
    SpeechRecognizer,
    SpeechStarted,
    TranscriptResult,
    UnsupportedAudio,
    UtteranceEnd,
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
        idle_timeout=idle_timeout or float(config_value(config, "listen_idle_timeout") or IDLE_TIMEOUT),
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
    recognizer = await asyncio.to_thread(SpeechRecognizer.load)
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


# --------------------------------------------------------------------------- parameters


class InvalidParameter(ValueError):
    pass


@dataclass
class ListenParams:
    encoding: str = "linear16"
    sample_rate: int = 16_000
    channels: int = 1
    model: str = "nova-2"
    language: str = "en"
    punctuate: bool = False
    smart_format: bool = False
    live: LiveOptions = field(default_factory=LiveOptions)

    @property
    def formatted(self) -> bool:
        return self.punctuate or self.smart_format

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> ListenParams:
        encoding = query.get("encoding")
        if encoding is None:
            raise InvalidParameter(
                "DATA-0000: send raw audio with encoding=linear16&sample_rate=16000 "
                "(the local engine does not sniff containers)"
            )
        if encoding.lower() != "linear16":
            raise InvalidParameter(
                f"DATA-0000: unsupported encoding '{encoding[:20]}'; "
                "the local engine accepts encoding=linear16 only"
            )
        if query.get("multichannel", "false").lower() == "true":
            raise InvalidParameter("multichannel=true is not supported by the local engine")
        language = query.get("language", "en")
        if language.lower() != "en" and not language.lower().startswith("en-"):
            raise InvalidParameter(
                f"language '{language[:20]}' is not supported; the local engine transcribes English"
            )
        endpointing = query.get("endpointing")
        if endpointing is None:
            endpointing_ms: int | None = DEFAULT_ENDPOINTING_MS
        elif endpointing.lower() == "false":
            endpointing_ms = None
        elif endpointing.lower() == "true":
            endpointing_ms = DEFAULT_ENDPOINTING_MS
        else:
            endpointing_ms = _integer(query, "endpointing", 0, 60_000)
        utterance_end = query.get("utterance_end_ms")
        return cls(
            encoding="linear16",
            sample_rate=_integer(query, "sample_rate", 1, 10_000_000, default=16_000),
            channels=_integer(query, "channels", 1, 64, default=1),
            model=query.get("model", "nova-2"),
            language=language,
            punctuate=_boolean(query, "punctuate"),
            smart_format=_boolean(query, "smart_format"),
            live=LiveOptions(
                interim_results=_boolean(query, "interim_results"),
                endpointing_ms=endpointing_ms,
                utterance_end_ms=(
                    _integer(query, "utterance_end_ms", 1, 60_000) if utterance_end else None
                ),
                vad_events=_boolean(query, "vad_events"),
            ),
        )


def _boolean(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name, "false").lower()
    if value not in ("true", "false"):
        raise InvalidParameter(f"{name} must be true or false, not '{value[:20]}'")
    return value == "true"


def _integer(query: Mapping[str, str], name: str, low: int, high: int, default: int = 0) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(f"{name} must be an integer, not '{raw[:20]}'") from None
    if not low <= value <= high:
        raise InvalidParameter(f"{name} must be between {low} and {high}")
    return value



# --------------------------------------------------------------------------- one stream

_FINALIZE = "Finalize"
_CLOSE = "CloseStream"


class ListenStream:
    """One `/v1/listen` connection: a reader (this task) and a transcribing worker."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        recognizer: SpeechRecognizer,
        params: ListenParams,
        decoder: Linear16Decoder,
        request_id: str,
        idle_timeout: float,
    ) -> None:
        self.request_id = request_id
        self._ws = ws
        self._recognizer = recognizer
        self._params = params
        self._decoder = decoder
        self._idle_timeout = idle_timeout
        self._queue: asyncio.Queue[np.ndarray | str] = asyncio.Queue(maxsize=256)
        self._send_lock = asyncio.Lock()
        self._sha256 = hashlib.sha256()
        self._created = datetime.now(UTC)
        self._working = False  # the worker is busy with something the client sent
        self._transcription = LiveTranscription(recognizer, params.live, self._send_event)

    async def run(self) -> None:
        worker = asyncio.create_task(self._transcribe(), name=f"deepgram-listen:{self.request_id}")
        try:
            closing = await self._read()
            if closing:
                await worker
        finally:
            if not worker.done():
                worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
            await self._transcription.abort()
            if not self._ws.closed:
                await self._ws.close()

    async def shut_down(self) -> None:
        await self._ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")

    async def _read(self) -> bool:
        """Read until CloseStream (True) or the connection ends (False)."""
        while True:
            try:
                message = await self._ws.receive(timeout=self._idle_timeout)
            except TimeoutError:
                if self._working:  # the client is waiting for us, not idle
                    continue
                await self._ws.close(
                    code=WSCloseCode.INTERNAL_ERROR,
                    message=b"NET-0001: no audio or KeepAlive received within the timeout window",
                )
                return False
            if message.type == WSMsgType.BINARY:
                if not message.data:  # Deepgram's legacy way of saying CloseStream
                    await self._queue.put(_CLOSE)
                    return True
                self._sha256.update(message.data)
                samples = self._decoder.decode(message.data)
                if len(samples):
                    await self._queue.put(samples)
            elif message.type == WSMsgType.TEXT:
                command = await self._on_text(message.data)
                if command:
                    await self._queue.put(command)
                    if command == _CLOSE:
                        return True
            else:  # CLOSE, CLOSING, CLOSED, ERROR: the client is gone
                return False

    async def _on_text(self, text: str) -> str | None:
        try:
            message = json.loads(text)
            kind = message["type"]
        except (ValueError, TypeError, KeyError):
            await self._send(
                {
                    "type": "Error",
                    "variant": "SchemaError",
                    "description": "Text messages must be JSON objects with a 'type'.",
                    "message": text[:1000],
                }
            )
            return None
        if kind in (_FINALIZE, _CLOSE):
            return kind
        if kind == "Configure":
            await self._configure(message)
        elif kind != "KeepAlive":
            await self._send(
                {
                    "type": "Error",
                    "variant": "SchemaError",
                    "description": f"Unknown message type {str(kind)[:40]!r}.",
                    "message": text[:1000],
                }
            )
        return None

    async def _configure(self, message: dict) -> None:
        if message.get("keyterms") is not None:
            await self._send(
                {
                    "type": "ConfigureFailure",
                    "request_id": self.request_id,
                    "code": "CONFIGURE_KEYTERMS_NOT_SUPPORTED",
                    "description": "The local engine's model does not take keyterms.",
                }
            )
            return
        features = message.get("features") or {}
        if isinstance(features, dict):
            self._params.punctuate = bool(features.get("punctuate", self._params.punctuate))
            self._params.smart_format = bool(
                features.get("smart_format", self._params.smart_format)
            )
        await self._send({"type": "ConfigureSuccess", "request_id": self.request_id})

    async def _transcribe(self) -> None:
        """Feed audio to the transcription in order; merge whatever piled up meanwhile."""
        pending: np.ndarray | str | None = None
        try:
            while True:
                self._working = pending is not None
                item = pending if pending is not None else await self._queue.get()
                self._working, pending = True, None
                if isinstance(item, np.ndarray):
                    parts = [item]
                    while not self._queue.empty():
                        following = self._queue.get_nowait()
                        if isinstance(following, np.ndarray):
                            parts.append(following)
                        else:
                            pending = following
                            break
                    await self._transcription.feed(np.concatenate(parts))
                elif item == _FINALIZE:
                    await self._transcription.finalize()
                elif item == _CLOSE:
                    await self._transcription.close()
                    await self._send(self._metadata())
                    await self._ws.close()
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("live transcription %s failed", self.request_id)
            await self._ws.close(code=WSCloseCode.INTERNAL_ERROR, message=b"transcription failed")

    # -- messages out

    async def _send_event(self, event: LiveEvent) -> None:
        if isinstance(event, TranscriptResult):
            await self._send(self._results(event))
        elif isinstance(event, SpeechStarted):
            await self._send(
                {"type": "SpeechStarted", "channel": [0], "timestamp": event.timestamp}
            )
        elif isinstance(event, UtteranceEnd):
            await self._send(
                {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": event.last_word_end}
            )

    async def _send(self, message: dict) -> None:
        if self._ws.closed:
            return
        async with self._send_lock:
            with contextlib.suppress(ConnectionError):
                await self._ws.send_str(json.dumps(message))

    def _results(self, event: TranscriptResult) -> dict:
        formatted = self._params.formatted
        transcript = event.transcript
        words = []
        for word in transcript.words:
            item = {
                "word": word.word,
                "start": word.start,
                "end": word.end,
                "confidence": word.confidence,
            }
            if formatted:
                item["punctuated_word"] = word.punctuated_word
            words.append(item)
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": event.duration,
            "start": event.start,
            "is_final": event.is_final,
            "speech_final": event.speech_final,
            "channel": {
                "alternatives": [
                    {
                        "transcript": transcript.text if formatted else transcript.plain_text,
                        "confidence": transcript.confidence,
                        "words": words,
                    }
                ]
            },
            "metadata": {
                "request_id": self.request_id,
                "model_info": self._model_info(),
                "model_uuid": self._recognizer.model_uuid,
            },
            "from_finalize": event.from_finalize,
        }

    def _model_info(self) -> dict:
        return {
            "name": self._recognizer.model_name,
            "version": self._recognizer.model_version,
            "arch": "whisper",
        }

    def _metadata(self) -> dict:
        model_uuid = self._recognizer.model_uuid
        return {
            "type": "Metadata",
            "transaction_key": "deprecated",
            "request_id": self.request_id,
            "sha256": self._sha256.hexdigest(),
            "created": self._created.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "duration": round(self._decoder.seconds_received, 3),
            "channels": self._params.channels,
            "models": [model_uuid],
            "model_info": {model_uuid: self._model_info()},
        }
