"""Deepgram live transcription through the official SDK (deepgram-sdk 7.x, Fern-generated).

What the SDK gives us, read from its source (deepgram/listen/v1/raw_client.py, client.py,
environment.py, socket_client.py):

- `AsyncDeepgramClient(api_key=..., environment=DeepgramClientEnvironment(...))`; the live URL
  is `environment.production + "/v1/listen"`, so pointing `production` at settings.DEEPGRAM_URL
  (e.g. ws://127.0.0.1:8700, the local engine) is all a custom base URL takes.
- Auth is the header `Authorization: Token <api_key>` (core/client_wrapper.py).
- `client.listen.v1.connect(model=..., encoding=..., ...)` is an async context manager that opens
  the socket (query parameters; booleans become "true"/"false") and yields an
  `AsyncV1SocketClient`: `send_media(bytes)`, `send_keep_alive()`, `send_finalize()`,
  `send_close_stream()`, and async iteration of typed messages (`Results`, `UtteranceEnd`,
  `SpeechStarted`, `Metadata`, `Error`).
- A refused handshake raises `deepgram.core.api_error.ApiError` with the HTTP status (its
  headers are redacted, and we never copy them anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import websockets
from deepgram import AsyncDeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.environment import DeepgramClientEnvironment

from ...error_codes import STT, Service
from ..errors import ProviderError, ProviderUnavailable, rejection, scrub, unavailable
from ..http import DEFAULT_RETRY, RetryPolicy, tls_context
from .base import SpeechToTextSession, TranscriptEvent

with warnings.catch_warnings():
    # The SDK's socket client still imports `websockets.legacy`, which warns on import.
    warnings.simplefilter("ignore", DeprecationWarning)
    from deepgram.listen.v1 import raw_client as _listen_v1_raw  # noqa: F401

log = logging.getLogger(__name__)

PROVIDER = "deepgram"
# End of turn after 250 ms of silence: the product's turn-taking target. Deepgram's own VAD
# ends speech on `endpointing` ms of silence and marks that final `speech_final=true`.
# https://developers.deepgram.com/docs/endpointing
DEFAULT_ENDPOINTING_MS = 250
SERVICE = Service(STT, "speech recognition service (Deepgram)")


def environment_for(url: str) -> DeepgramClientEnvironment:
    """A Deepgram environment whose live (websocket) URL is `url` (ws:// or wss://)."""
    ws_url = url.rstrip("/")
    if ws_url.startswith("http://") or ws_url.startswith("https://"):
        ws_url = "ws" + ws_url[len("http") :]
    http_url = "http" + ws_url[len("ws") :] if ws_url.startswith("ws") else ws_url
    return DeepgramClientEnvironment(
        base=http_url, production=ws_url, agent=ws_url, agent_rest=http_url
    )


def _as_dict(message: Any) -> dict[str, Any] | None:
    if isinstance(message, dict):
        return message
    if hasattr(message, "dict"):
        return message.dict()
    return None


def transcript_event(message: Any) -> TranscriptEvent | None:
    """Our event for one Deepgram message, or None for messages we do not surface.

    Empty interim results are dropped; empty finals are kept, because a final with
    `speech_final` and no words still tells us the speaker stopped.
    """
    data = _as_dict(message)
    if not data:
        return None
    kind = data.get("type")
    if kind == "Results":
        alternatives = (data.get("channel") or {}).get("alternatives") or [{}]
        text = (alternatives[0].get("transcript") or "").strip()
        is_final = bool(data.get("is_final"))
        if not is_final and not text:
            return None
        return TranscriptEvent(
            kind="final" if is_final else "interim",
            text=text,
            is_final=is_final,
            speech_final=bool(data.get("speech_final")),
            start=float(data.get("start") or 0.0),
            duration=float(data.get("duration") or 0.0),
        )
    if kind == "UtteranceEnd":
        return TranscriptEvent(kind="utterance_end", start=float(data.get("last_word_end") or 0.0))
    if kind == "SpeechStarted":
        return TranscriptEvent(kind="speech_started", start=float(data.get("timestamp") or 0.0))
    if kind == "Error":
        raise unavailable(
            provider=PROVIDER,
            service=SERVICE,
            vendor_message=str(data.get("description") or data.get("message") or "error")[:300],
        )
    return None


@functools.cache
def _sdk_http_client() -> httpx.AsyncClient:
    """The SDK builds an httpx client (and a TLS context, ~40 ms on daphne's loop) per session
    unless given one; live transcription never sends a request through it, so one will do."""
    return httpx.AsyncClient(verify=tls_context())


class DeepgramLiveSession(SpeechToTextSession):
    """One live transcription: 16 kHz mono linear16 in, interim/final/utterance-end events out.

    Sends Deepgram's `{"type": "KeepAlive"}` whenever no audio went out for
    `keepalive_interval` seconds (Deepgram closes a silent socket after about 10 s).
    """

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        endpointing_ms: int = DEFAULT_ENDPOINTING_MS,
        utterance_end_ms: int = 1000,
        model: str = "nova-3",
        language: str = "en-US",
        sample_rate: int = 16000,
        keepalive_interval: float = 5.0,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.url = url
        self.endpointing_ms = endpointing_ms
        self.utterance_end_ms = utterance_end_ms
        self.model = model
        self.language = language
        self.sample_rate = sample_rate
        self.keepalive_interval = keepalive_interval
        self.timeout = timeout
        self.retry = retry
        self._api_key = api_key
        self._stack: AsyncExitStack | None = None
        self._socket = None
        self._keepalive_task: asyncio.Task | None = None
        self._last_sent = 0.0
        self._closing = False

    def __repr__(self) -> str:
        return f"DeepgramLiveSession(url={self.url!r})"

    @property
    def closed(self) -> bool:
        return self._closing

    def connect_options(self) -> dict[str, Any]:
        """The /v1/listen query parameters.

        `vad_events=true` makes Deepgram send `SpeechStarted` (our `speech_started` event) when
        the voice begins, before any words: barge-in acts on it.
        https://developers.deepgram.com/docs/speech-started
        """
        return {
            "model": self.model,
            "language": self.language,
            "encoding": "linear16",
            "sample_rate": self.sample_rate,
            "channels": 1,
            "interim_results": True,
            "endpointing": self.endpointing_ms,
            "utterance_end_ms": self.utterance_end_ms,
            "vad_events": True,
            "punctuate": True,
            "smart_format": True,
        }

    async def start(self) -> None:
        if self._socket is not None:
            return
        client = AsyncDeepgramClient(
            api_key=self._api_key,
            environment=environment_for(self.url),
            httpx_client=_sdk_http_client(),
        )
        attempt = 0
        while True:
            attempt += 1
            stack = AsyncExitStack()
            try:
                async with asyncio.timeout(self.timeout):
                    socket = await stack.enter_async_context(
                        client.listen.v1.connect(**self.connect_options())
                    )
            except Exception as exc:
                await stack.aclose()
                error = self._connect_error(exc)
                if error.retryable and attempt < self.retry.attempts:
                    delay = self.retry.backoff(attempt)
                    log.warning(
                        "deepgram connect failed (%s); retry %d/%d in %.2fs",
                        error.code,
                        attempt,
                        self.retry.attempts - 1,
                        delay,
                    )
                    await self.retry.sleep(delay)
                    continue
                log.warning("deepgram connect failed after %d attempts (%s)", attempt, error.code)
                raise error from None
            break
        self._stack, self._socket = stack, socket
        self._last_sent = time.monotonic()
        self._keepalive_task = asyncio.create_task(self._keep_alive(), name="deepgram-keepalive")
        log.info("deepgram session open (%s)", self.url)

    def _connect_error(self, exc: Exception) -> ProviderError:
        if isinstance(exc, ApiError):
            status = exc.status_code or 0
            body = scrub(str(exc.body or ""), (self._api_key,))[:300]
            if 400 <= status < 500:
                return rejection(status, provider=PROVIDER, service=SERVICE, vendor_message=body)
            return unavailable(
                provider=PROVIDER, service=SERVICE, status=status or None, vendor_message=body
            )
        if isinstance(exc, (OSError, TimeoutError, websockets.exceptions.WebSocketException)):
            return unavailable(
                provider=PROVIDER, service=SERVICE, vendor_message=type(exc).__name__
            )
        return ProviderError(
            f"Could not start the {SERVICE}.",
            provider=PROVIDER,
            service=SERVICE,
            vendor_message=type(exc).__name__,
        )

    def _require_socket(self):
        if self._socket is None:
            raise RuntimeError("DeepgramLiveSession.start() has not been called.")
        return self._socket

    async def _send(self, operation: str, *args: Any) -> None:
        socket = self._require_socket()
        if self._closing:
            return  # audio that arrives after close() is dropped
        try:
            await getattr(socket, operation)(*args)
        except websockets.exceptions.ConnectionClosed as exc:
            if self._closing:
                return
            raise unavailable(
                provider=PROVIDER, service=SERVICE, vendor_message=type(exc).__name__
            ) from None
        self._last_sent = time.monotonic()

    async def send(self, pcm: bytes) -> None:
        if pcm:
            await self._send("send_media", pcm)

    async def _keep_alive(self) -> None:
        tick = min(1.0, self.keepalive_interval / 2)
        while not self._closing:
            await asyncio.sleep(tick)
            if time.monotonic() - self._last_sent >= self.keepalive_interval:
                try:
                    await self._send("send_keep_alive")
                except ProviderUnavailable:
                    return  # the reader sees the closed socket and reports it

    async def close(self) -> None:
        if self._closing:
            return
        if self._socket is None:
            self._closing = True
            return
        # Ask Deepgram to flush and finish before we hang up.
        with contextlib.suppress(Exception):
            await self._socket.send_close_stream()
        self._closing = True
        if self._keepalive_task is not None:
            self._keepalive_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._keepalive_task
        if self._stack is not None:
            with contextlib.suppress(Exception):
                await self._stack.aclose()
        log.info("deepgram session closed")

    async def __aiter__(self) -> AsyncIterator[TranscriptEvent]:
        socket = self._require_socket()
        try:
            async for message in socket:
                event = transcript_event(message)
                if event is not None:
                    yield event
        except websockets.exceptions.ConnectionClosed as exc:
            if self._closing:
                return
            raise unavailable(
                provider=PROVIDER, service=SERVICE, vendor_message=type(exc).__name__
            ) from None
