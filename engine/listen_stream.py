"""One connection of Deepgram's `GET /v1/listen` on the local engine: audio in, results out.

Messages follow https://developers.deepgram.com/reference/speech-to-text/listen-streaming.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from datetime import UTC, datetime

import numpy as np
from aiohttp import WSCloseCode, WSMsgType, web

from .audio_in import Linear16Decoder
from .listen_params import ListenParams
from .speech_models import SpeechRecognizer
from .transcriber import LiveTranscription
from .transcript_events import LiveEvent, SpeechStarted, TranscriptResult, UtteranceEnd

logger = logging.getLogger(__name__)


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
            # https://developers.deepgram.com/docs/speech-started
            await self._send(
                {"type": "SpeechStarted", "channel": [0, 1], "timestamp": event.timestamp}
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
            "arch": self._recognizer.arch,
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
