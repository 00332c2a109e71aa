"""LiveAvatar: HeyGen's successor to its Interactive (Streaming) Avatar API.

Two calls open a session, which is a LiveKit room the browser joins with a client token
(https://docs.liveavatar.com/docs/faq/heygen-comparison):

- `POST /v1/sessions/token` with `X-API-KEY`: {mode, avatar_id, avatar_persona {voice_id,
  context_id, language} (FULL), is_sandbox, video_settings {quality, encoding}} ->
  `{"code": 100, "data": {"session_id", "session_token"}, "message"}`
  (https://docs.liveavatar.com/api-reference/sessions/create-session-token).
- `POST /v1/sessions/start` with `Authorization: Bearer <session_token>` ->
  `{"code": 100, "data": {"session_id", "livekit_url", "livekit_client_token",
  "livekit_agent_token", "max_session_duration", "ws_url"}, "message"}`
  (https://docs.liveavatar.com/api-reference/sessions/start-session).
- `POST /v1/sessions/keep-alive` {session_id} and `POST /v1/sessions/stop` {session_id, reason}
  take the API key too (https://docs.liveavatar.com/api-reference/sessions/keep-session-alive,
  https://docs.liveavatar.com/api-reference/sessions/stop-session), so the session token is used
  once, here, and never stored or shown.

Then the two modes differ:

- FULL (the vendor's voice, and its LLM if a context is configured): commands are events on the
  room's `agent-control` topic, {event_type, session_id, text} with `avatar.speak_text`,
  `avatar.speak_response`, `avatar.interrupt` (https://docs.liveavatar.com/docs/full-mode/events).
  Publishing needs a room participant. The page already is one (it holds only the client
  token), so the command is relayed to it and it publishes; no key goes to the browser. With a
  context, replies are `speak_response` (streaming/liveavatar_replies.py); the words LiveAvatar's
  LLM wrote come back as `avatar.transcription` on the room's `agent-response` topic, which the
  page relays.
- LITE (our own LLM and speech): PCM16 24 kHz audio over the session's command WebSocket,
  server-side, see liveavatar_lite.py (https://docs.liveavatar.com/docs/lite-mode/events).

The browser gets only `livekit_url` + `livekit_client_token`; never the API key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx

from ..errors import ProviderError, ProviderRejected, rejection, scrub
from ..http import DEFAULT_RETRY, JsonApi, RetryPolicy, make_client
from .base import AvatarProvider, LiveKitSignalling, Stream
from .liveavatar_lite import LIVEAVATAR, LiteChannel, new_event_id, speak_events

log = logging.getLogger(__name__)

Mode = Literal["FULL", "LITE"]
OK_CODE = 100
CONTROL_TOPIC = "agent-control"
# The same budget as HeyGen's tasks; LiveAvatar documents no cap, so we keep sentences short.
MAX_TEXT_CHARS = 1000
# Stop reasons are an enum; ours is always the user (or our reaper on their behalf) leaving.
STOP_REASON = "USER_CLOSED"

# relay(stream, message_type, fields): deliver a message to the page(s) showing this stream.
Relay = Callable[[Stream, str, dict[str, Any]], Awaitable[None]]
# speech(text, voice_id) -> PCM16 mono 24 kHz.
Speech = Callable[[str, str | None], Awaitable[bytes]]


def video_settings_for(avatar) -> dict[str, str]:
    """{quality, encoding}: very_high/high/medium/low from the output resolution; the avatar's
    codec choice (VP8 unless it asks for H264)."""
    resolution = avatar.output_resolution
    if resolution is None:
        quality = "high"
    elif resolution >= 1080:
        quality = "very_high"
    elif resolution >= 720:
        quality = "high"
    elif resolution >= 480:
        quality = "medium"
    else:
        quality = "low"
    encoding = "H264" if avatar.compatibility_mode == "off" else "VP8"
    return {"quality": quality, "encoding": encoding}


def language_for(avatar) -> str:
    """The ISO 639-1 language LiveAvatar expects ("en"), from the avatar's or its voice's tag."""
    tag = getattr(avatar, "language", "") or getattr(avatar.voice, "language", "") or "en"
    return tag.split("-")[0].lower() or "en"


class LiveAvatarProvider(JsonApi, LiveKitSignalling, AvatarProvider):
    name = "liveavatar"
    service = LIVEAVATAR
    transport = "livekit"
    max_text_chars = MAX_TEXT_CHARS

    def __init__(
        self,
        base_url: str,
        api_key: str,
        client: httpx.AsyncClient | None = None,
        *,
        mode: Mode = "LITE",
        sandbox: bool = False,
        context_id: str = "",
        speech: Speech | None = None,
        relay: Relay | None = None,
        connect_ws: Callable[..., Any] | None = None,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        super().__init__(client or make_client(timeout=timeout), owns_client=client is None)
        if mode not in ("FULL", "LITE"):
            raise ValueError(f"LiveAvatar mode must be FULL or LITE, not {mode!r}.")
        self.base_url = base_url.rstrip("/")
        self.mode: Mode = mode
        self.sandbox = sandbox
        self.context_id = context_id
        self.speech = speech
        self.relay = relay
        self.retry = retry
        self.timeout = timeout
        self._connect_ws = connect_ws
        self._api_key = api_key
        self._channels: dict[str, LiteChannel] = {}

    def __repr__(self) -> str:
        return f"LiveAvatarProvider(base_url={self.base_url!r}, mode={self.mode!r})"

    @property
    def writes_replies(self) -> bool:
        """FULL mode with a context: LiveAvatar's LLM writes the replies (`speak_response`), not
        ours (streaming/liveavatar_replies.py)."""
        return self.mode == "FULL" and bool(self.context_id)

    async def aclose(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()
        close_speech = getattr(self.speech, "aclose", None)
        if close_speech is not None:
            await close_speech()
        await super().aclose()

    # HTTP --------------------------------------------------------------------------------------

    async def _call(
        self, path: str, body: dict[str, Any] | None = None, *, bearer: str | None = None
    ) -> dict[str, Any]:
        """POST /v1/sessions/<path>; the envelope's `data` (or {} when there is none)."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if bearer is not None:
            headers["Authorization"] = f"Bearer {bearer}"
        else:
            headers["X-API-KEY"] = self._api_key
        secrets = (self._api_key, bearer)
        response, envelope = await self._send_json(
            "POST", f"{self.base_url}/v1/sessions/{path}", body, headers=headers, secrets=secrets
        )
        code = envelope.get("code")
        if code not in (None, OK_CODE):
            # A 2xx that still reports a failure in the envelope.
            message = str(envelope.get("message") or code)
            raise rejection(
                response.status_code if response.status_code >= 400 else 400,
                provider=self.name,
                service=self.service,
                vendor_message=scrub(message[:300], secrets),
            )
        data = envelope.get("data")
        return data if isinstance(data, dict) else {}

    def token_body(self, avatar) -> dict[str, Any]:
        body: dict[str, Any] = {
            "mode": self.mode,
            "avatar_id": avatar.liveavatar_avatar_id,
            "is_sandbox": self.sandbox,
            "video_settings": video_settings_for(avatar),
        }
        if self.mode == "FULL":
            persona: dict[str, str] = {"language": language_for(avatar)}
            voice = avatar.voice
            if voice is not None and voice.provider == "liveavatar":
                persona["voice_id"] = voice.voice_id
            if self.context_id:
                persona["context_id"] = self.context_id
            body["avatar_persona"] = persona
        return body

    def _bad_response(self, what: str) -> ProviderError:
        return ProviderError(
            f"The {self.service} did not return {what}.",
            provider=self.name,
            service=self.service,
        )

    async def open(self, avatar) -> Stream:
        token = await self._call("token", self.token_body(avatar))
        session_id, session_token = token.get("session_id"), token.get("session_token")
        if not session_id or not session_token:
            raise self._bad_response("a session token")
        try:
            data = await self._call("start", bearer=str(session_token))
            url, client_token = data.get("livekit_url"), data.get("livekit_client_token")
            if not url or not client_token:
                raise self._bad_response("a LiveKit room")
            if self.mode == "LITE" and not data.get("ws_url"):
                raise self._bad_response("a command socket for LITE mode")
        except ProviderError:
            # A token's session may already count as started: stop it so it holds nothing.
            await self._stop_quietly(str(session_id))
            raise
        extra = {"url": url, "access_token": client_token, "mode": self.mode}
        if self.mode == "LITE":
            extra["ws_url"] = data["ws_url"]
        stream = Stream(
            id=str(data.get("session_id") or session_id),
            session_id=str(data.get("session_id") or session_id),
            offer=None,
            ice_servers=[],
            provider=self.name,
            extra=extra,
        )
        log.info("opened LiveAvatar %s session %s", self.mode, stream.id)
        return stream

    async def keep_alive(self, stream: Stream) -> None:
        """Push back LiveAvatar's 5-minute idle timeout: `session.keep_alive` on the command
        socket in LITE mode, the keep-alive endpoint in FULL mode."""
        if _mode(stream) == "LITE":
            await self._channel(stream).send(
                {"type": "session.keep_alive", "event_id": new_event_id()}
            )
        else:
            await self._call("keep-alive", {"session_id": stream.session_id})

    async def close(self, stream: Stream) -> None:
        channel = self._channels.pop(stream.session_id, None)
        if channel is not None:
            await channel.close()
        try:
            await self._call("stop", {"session_id": stream.session_id, "reason": STOP_REASON})
        except ProviderRejected as exc:
            if exc.status not in (404, 410):
                raise
            log.info("LiveAvatar session %s was already gone (%s)", stream.id, exc.status)
        else:
            log.info("closed LiveAvatar session %s", stream.id)

    async def _stop_quietly(self, session_id: str) -> None:
        try:
            await self._call("stop", {"session_id": session_id, "reason": STOP_REASON})
        except ProviderError as exc:
            log.warning("could not stop LiveAvatar session %s after a failed start: %s",
                        session_id, exc.code)

    # Speaking --------------------------------------------------------------------------------

    async def speak(self, stream: Stream, text: str, voice=None) -> dict[str, Any]:
        """Say `text`: as `avatar.speak_text` in FULL mode (the vendor's voice), as our own
        speech streamed over the command socket in LITE mode."""
        text = self.check_text(text)
        if _mode(stream) == "FULL":
            return await self._command(stream, "avatar.speak_text", text=text)
        if self.speech is None:
            raise ProviderError(
                "LiveAvatar LITE mode needs a speech service, and none is configured.",
                provider=self.name,
                service=self.service,
                kind="not_configured",
            )
        voice_id = voice.voice_id if voice is not None and voice.provider == "local" else None
        pcm = await self.speech(text, voice_id)
        event_id = new_event_id()
        await self._channel(stream).send(*speak_events(pcm, event_id))
        return {"event_id": event_id, "duration_ms": len(pcm) / 48.0}

    async def speak_response(self, stream: Stream, text: str) -> dict[str, Any]:
        """FULL mode only: the vendor's LLM answers `text` (needs a context), then speaks."""
        if _mode(stream) != "FULL":
            raise ValueError("speak_response needs a FULL-mode LiveAvatar session.")
        return await self._command(stream, "avatar.speak_response", text=self.check_text(text))

    async def interrupt(self, stream: Stream) -> None:
        if _mode(stream) == "FULL":
            await self._command(stream, "avatar.interrupt")
        else:
            await self._channel(stream).send({"type": "agent.interrupt"})

    async def _command(self, stream: Stream, event_type: str, **fields: Any) -> dict[str, Any]:
        """Hand a FULL-mode command to the page, which publishes it on `agent-control`."""
        if self.relay is None:
            raise ProviderError(
                "LiveAvatar FULL mode commands need a page to relay them, and none is wired.",
                provider=self.name,
                service=self.service,
                kind="not_configured",
            )
        event_id = new_event_id()
        event = {"event_id": event_id, "event_type": event_type,
                 "session_id": stream.session_id, **fields}
        await self.relay(stream, "livekit.data", {"topic": CONTROL_TOPIC, "data": event})
        return {"event_id": event_id}

    def _channel(self, stream: Stream) -> LiteChannel:
        channel = self._channels.get(stream.session_id)
        if channel is None:
            url = stream.extra.get("ws_url")
            if not url:
                raise ProviderError(
                    f"The {self.service} gave this session no command socket.",
                    provider=self.name,
                    service=self.service,
                )

            async def on_event(event: str) -> None:
                if self.relay is not None:
                    await self.relay(stream, "avatar.provider_event", {"event": event})

            def on_closed() -> None:
                # The vendor ended the socket (session stopped): forget it, reopen if used again.
                if self._channels.get(stream.session_id) is channel:
                    del self._channels[stream.session_id]

            options: dict[str, Any] = {"on_event": on_event, "on_closed": on_closed,
                                       "ready_timeout": self.timeout,
                                       "provider": self.name, "service": self.service}
            if self._connect_ws is not None:
                options["connect"] = self._connect_ws
            channel = self._channels[stream.session_id] = LiteChannel(str(url), **options)
        return channel


def _mode(stream: Stream) -> Mode:
    return "FULL" if stream.extra.get("mode") == "FULL" else "LITE"
