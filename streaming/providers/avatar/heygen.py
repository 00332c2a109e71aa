"""HeyGen Interactive (Streaming) Avatar, API v1 endpoints with `version: "v2"` (LiveKit).

HeyGen's older raw-WebRTC flow (SDP and ICE through the server) is retired; since 28 Feb 2025
only the LiveKit flow is served. HeyGen now points new integrations at LiveAvatar (liveavatar.py);
this client stays for accounts that still have the Streaming API:

- docs.heygen.com/reference/new-session: `POST /v1/streaming.new` takes `quality`
  (high/medium/low), `avatar_id`/`avatar_name`, `voice` {voice_id}, `video_encoding`
  (H264/VP8), `version` ("v2"), `activity_idle_timeout` (30..3600 s, default 120) and answers
  `{"code": 100, "data": {"session_id", "url", "access_token", ...}, "message": "success"}`.
- HeyGen-Official/StreamingAvatarSDK src/index.ts: `newSession` posts `avatar_name`, `quality`,
  `voice.voice_id`, `version: "v2"`; then `streaming.start`, `streaming.task`
  {text, session_id, task_mode, task_type}, `streaming.interrupt`, `streaming.stop`, each with
  `{session_id}`; the browser joins the LiveKit room with `url` + `access_token`.
- docs.heygen.com/reference/send-task: `task_type` "repeat" speaks our text as is; answers
  `{task_id, duration_ms}`. docs.heygen.com/reference/keep-alive: `POST
  /v1/streaming.keep_alive` {session_id} resets the idle timer.
- Auth is the `x-api-key` header (docs' curl examples).
- An account has a fixed number of concurrent sessions (3 on the trial); a session over the
  limit fails with "Concurrent limit reached". A conversation over PROVIDER_SESSION_LIMITS is
  refused before it starts (conversations/services.py), so HeyGen is not asked.

Doc pages: https://docs.heygen.com/reference/new-session,
https://docs.heygen.com/reference/start-session, https://docs.heygen.com/reference/send-task,
https://docs.heygen.com/reference/interrupt-task, https://docs.heygen.com/reference/keep-alive,
https://docs.heygen.com/reference/close-session,
https://docs.heygen.com/changelog/keepalive-api,
https://docs.heygen.com/docs/session-management-best-practices.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from ...error_codes import AVATAR, Service
from ..errors import (
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    bad_response,
    rejection,
    scrub,
)
from ..http import DEFAULT_RETRY, JsonApi, RetryPolicy, make_client
from .base import AvatarProvider, LiveKitSignalling, Stream

log = logging.getLogger(__name__)

# HeyGen's success code in the response envelope.
OK_CODE = 100
# About 1,000 characters per task.
MAX_TEXT_CHARS = 1000
# activity_idle_timeout: "≥ 30 seconds and < 3600 seconds".
MIN_IDLE_TIMEOUT, MAX_IDLE_TIMEOUT = 30, 3599


def idle_timeout_for(avatar) -> int:
    """`activity_idle_timeout` for the avatar's session timeout, within HeyGen's bounds."""
    return min(max(avatar.session_timeout or 120, MIN_IDLE_TIMEOUT), MAX_IDLE_TIMEOUT)


def quality_for(output_resolution: int | None) -> str:
    """HeyGen's quality names: high = 720p, medium = 480p, low = 360p."""
    if output_resolution is None:
        return "medium"
    if output_resolution >= 720:
        return "high"
    if output_resolution >= 480:
        return "medium"
    return "low"


class HeyGenProvider(JsonApi, LiveKitSignalling, AvatarProvider):
    name = "heygen"
    service = Service(AVATAR, "avatar service (HeyGen)")
    transport = "livekit"
    max_text_chars = MAX_TEXT_CHARS

    def __init__(
        self,
        base_url: str,
        api_key: str,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        super().__init__(client or make_client(timeout=timeout), owns_client=client is None)
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._api_key = api_key
        self._headers = {
            "x-api-key": api_key,
            "Content-Type": "application/json",
            "Accept": "application/json",
        }

    def __repr__(self) -> str:
        return f"HeyGenProvider(base_url={self.base_url!r})"

    async def _call(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST /v1/streaming.<endpoint>; the envelope's `data` (or {} when there is none)."""
        response, envelope = await self._send_json(
            "POST", f"{self.base_url}/v1/streaming.{endpoint}", body
        )
        code = envelope.get("code")
        if envelope.get("error") or (code not in (None, OK_CODE) and not envelope.get("data")):
            # A 2xx that still reports a failure in the envelope.
            message = str(envelope.get("message") or envelope.get("error") or code)
            raise rejection(
                response.status_code,
                provider=self.name,
                service=self.service,
                vendor_message=scrub(message[:300], (self._api_key,)),
            )
        data = envelope.get("data")
        return data if isinstance(data, dict) else {}

    def new_session_body(self, avatar) -> dict[str, Any]:
        body: dict[str, Any] = {
            "quality": quality_for(avatar.output_resolution),
            "avatar_name": avatar.heygen_avatar_name,
            "version": "v2",
            "activity_idle_timeout": idle_timeout_for(avatar),
        }
        voice = avatar.voice
        if voice is not None and voice.provider == "heygen":
            body["voice"] = {"voice_id": voice.voice_id}
        encoding = {"on": "VP8", "off": "H264"}.get(avatar.compatibility_mode)
        if encoding:
            body["video_encoding"] = encoding
        return body

    async def open(self, avatar) -> Stream:
        data = await self._call("new", self.new_session_body(avatar))
        session_id = data.get("session_id")
        if not session_id or not data.get("url") or not data.get("access_token"):
            raise bad_response(
                "did not return a LiveKit room", provider=self.name, service=self.service
            )
        stream = Stream(
            id=str(session_id),
            session_id=str(session_id),
            offer=None,
            ice_servers=[],
            provider="heygen",
            extra={"url": data["url"], "access_token": data["access_token"]},
        )
        try:
            await self._call("start", {"session_id": stream.session_id})
        except ProviderError:
            # A created but unstarted session still counts against the concurrent sessions.
            await self._stop_quietly(stream)
            raise
        log.info("opened HeyGen session %s", stream.id)
        return stream

    async def speak(self, stream: Stream, text: str, voice=None) -> dict[str, Any]:
        """Repeat `text` as is. The voice was fixed when the session was created.

        `task_mode: "async"` returns at once (the SDK's default) so sentences queue up while
        the LLM is still writing.
        """
        text = self.check_text(text)
        return await self._call(
            "task",
            {
                "session_id": stream.session_id,
                "text": text,
                "task_type": "repeat",
                "task_mode": "async",
            },
        )

    async def interrupt(self, stream: Stream) -> None:
        await self._call("interrupt", {"session_id": stream.session_id})

    async def keep_alive(self, stream: Stream) -> None:
        """Reset HeyGen's idle timer (`activity_idle_timeout`) for a session still in use."""
        await self._call("keep_alive", {"session_id": stream.session_id})

    async def close(self, stream: Stream) -> None:
        try:
            await self._call("stop", {"session_id": stream.session_id})
        except ProviderUnavailable:
            raise  # retried later (streaming.tasks.close_stream)
        except ProviderRejected as exc:
            if exc.status not in (404, 410):
                raise
            log.info("HeyGen session %s was already gone (%s)", stream.id, exc.status)
        else:
            log.info("closed HeyGen session %s", stream.id)

    async def _stop_quietly(self, stream: Stream) -> None:
        try:
            await self._call("stop", {"session_id": stream.session_id})
        except ProviderError as exc:
            log.warning(
                "could not stop HeyGen session %s after a failed start: %s", stream.id, exc.code
            )
