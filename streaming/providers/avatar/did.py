"""D-ID streams: Talks (a photo), Clips (a premium presenter) and Agents, on one client.

The three share the WebRTC handshake and differ only in the path prefix and in the body that
creates the stream (https://docs.d-id.com/reference/talks-streams-overview for Talks and Clips,
https://docs.d-id.com/reference/agents-streams-overview for Agents):

    POST   {prefix}                 create: {"id", "session_id", "offer", "ice_servers"}
    POST   {prefix}/{id}/sdp        {"answer": {"type": "answer", "sdp"}, "session_id"}
    POST   {prefix}/{id}/ice        {"candidate", "sdpMid", "sdpMLineIndex", "session_id"},
                                    or just {"session_id"} for end-of-candidates
    POST   {prefix}/{id}            speak: {"script": {...}, "config": {...}, "session_id"}
    DELETE {prefix}/{id}            {"session_id"}

with prefix `/talks/streams`, `/clips/streams` or `/agents/{agent_id}/streams`; every call
carries `Authorization: Basic <key>` (the key verbatim, as the docs write it).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import quote

import httpx

from ...error_codes import AVATAR, Service
from ..errors import ProviderError, ProviderRejected, bad_response
from ..http import DEFAULT_RETRY, JsonApi, RetryPolicy, make_client
from .base import AvatarProvider, Stream

log = logging.getLogger(__name__)

Kind = Literal["talks", "clips", "agents"]
KINDS: tuple[Kind, ...] = ("talks", "clips", "agents")

# D-ID's own default: "If no messages are sent within the session for 5 minutes, the session
# will be automatically terminated". `session_timeout` "can only be used with proper
# permissions" (the create-a-stream reference), so we only send it when an avatar asks for something else.
DEFAULT_SESSION_TIMEOUT = 300

# Agents chat messages are capped at about 2,000 characters; it is the only text cap D-ID
# documents, so it bounds the Talks and Clips scripts too (one sentence is far shorter).
MAX_TEXT_CHARS = 2000


def _offer(value: Any) -> dict[str, str] | None:
    """D-ID sends the offer as a JSEP object; the docs' example shows a bare SDP string."""
    if isinstance(value, dict) and value.get("sdp"):
        return {"type": str(value.get("type") or "offer"), "sdp": str(value["sdp"])}
    if isinstance(value, str) and value:
        return {"type": "offer", "sdp": value}
    return None


def did_headers(api_key: str) -> dict[str, str]:
    """D-ID's Basic authorisation (the key as the console gives it) and JSON both ways."""
    return {
        "Authorization": f"Basic {api_key}",
        "Content-Type": "application/json",
        "Accept": "application/json",
    }


class DIDProvider(JsonApi, AvatarProvider):
    name = "did"
    service = Service(AVATAR, "avatar service (D-ID)")
    transport = "webrtc"
    max_text_chars = MAX_TEXT_CHARS

    def __init__(
        self,
        base_url: str,
        api_key: str,
        kind: Kind = "talks",
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        interrupt_extension: bool = False,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"Unknown D-ID stream kind {kind!r}; expected one of {KINDS}.")
        super().__init__(client or make_client(timeout=timeout), owns_client=client is None)
        self.base_url = base_url.rstrip("/")
        self.kind: Kind = kind
        self.retry = retry
        # The local engine's barge-in extension; D-ID itself has no server-side interrupt.
        self.interrupt_extension = interrupt_extension
        self._api_key = api_key
        self._headers = did_headers(api_key)

    def __repr__(self) -> str:
        return f"DIDProvider(base_url={self.base_url!r}, kind={self.kind!r})"

    # -- paths and requests ---------------------------------------------------------------

    def _prefix(self, agent_id: str = "") -> str:
        if self.kind == "agents":
            if not agent_id:
                raise ValueError("A D-ID Agents stream needs the agent id.")
            return f"/agents/{quote(agent_id, safe='')}/streams"
        return f"/{self.kind}/streams"

    def _stream_path(self, stream: Stream, suffix: str = "") -> str:
        return (
            f"{self._prefix(stream.extra.get('agent_id', ''))}/{quote(stream.id, safe='')}{suffix}"
        )

    async def _call(self, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        return (await self._send_json(method, self.base_url + path, body))[1]

    # -- the stream -----------------------------------------------------------------------

    def create_body(self, avatar) -> dict[str, Any]:
        """The body that creates a stream for `avatar` (the streams overviews cited above)."""
        if self.kind == "agents":
            # Agents streams overview: {"compatibility_mode": "on", "fluent": true}; warm-up as
            # for the other kinds.
            return {
                "compatibility_mode": avatar.compatibility_mode,
                "fluent": avatar.fluent,
                "stream_warmup": avatar.stream_warmup,
            }
        if self.kind == "clips":
            body: dict[str, Any] = {"presenter_id": avatar.presenter_id}
            if avatar.driver_id:
                body["driver_id"] = avatar.driver_id
        else:
            body = {"source_url": avatar.public_source_url()}
            if avatar.driver_url:
                body["driver_url"] = avatar.driver_url
            body["config"] = {"stitch": avatar.stitch}
        body["compatibility_mode"] = avatar.compatibility_mode
        body["stream_warmup"] = avatar.stream_warmup
        if avatar.session_timeout and avatar.session_timeout != DEFAULT_SESSION_TIMEOUT:
            body["session_timeout"] = avatar.session_timeout
        # "Supported only with Talk presenters (photo-based)" (create-a-stream reference).
        if self.kind == "talks" and avatar.output_resolution:
            body["output_resolution"] = avatar.output_resolution
        return body

    async def open(self, avatar) -> Stream:
        agent_id = avatar.agent_id if self.kind == "agents" else ""
        if self.kind == "agents" and not agent_id:
            # A managed agent gets its D-ID id from its first sync: until then, say so.
            raise ProviderError(
                "This avatar's D-ID agent is not ready yet (it has not been synced).",
                provider=self.name, service=self.service, kind="not_configured",
            )
        data = await self._call("POST", self._prefix(agent_id), self.create_body(avatar))
        if not data.get("id") or not data.get("session_id"):
            raise bad_response("did not return a stream", provider=self.name, service=self.service)
        extra: dict[str, Any] = {
            "kind": self.kind,
            # What every talk sends as `config` (the avatar's options, fixed for the stream).
            "talk_config": {
                "fluent": avatar.fluent,
                "pad_audio": avatar.pad_audio,
                "stitch": avatar.stitch,
            },
        }
        if agent_id:
            extra["agent_id"] = agent_id
        stream = Stream(
            id=str(data["id"]),
            session_id=str(data["session_id"]),
            offer=_offer(data.get("offer")),
            ice_servers=list(data.get("ice_servers") or []),
            provider=f"did_{self.kind}",
            extra=extra,
        )
        log.info("opened D-ID %s stream %s", self.kind, stream.id)
        return stream

    async def answer(self, stream: Stream, sdp: str) -> None:
        body = {"answer": {"type": "answer", "sdp": sdp}, "session_id": stream.session_id}
        await self._call("POST", self._stream_path(stream, "/sdp"), body)

    async def add_ice(
        self,
        stream: Stream,
        candidate: str | None,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        # "If the candidate parameter is missing or a value of null is given the added ICE
        # candidate is an end-of-candidates indicator" (talks streams); the agents guide and
        # D-ID's demo send just the session_id. Browsers may also signal the end with an empty
        # candidate string.
        if not candidate:
            body: dict[str, Any] = {"session_id": stream.session_id}
        else:
            body = {
                "candidate": candidate,
                "sdpMid": sdp_mid,
                "sdpMLineIndex": sdp_mline_index,
                "session_id": stream.session_id,
            }
        await self._call("POST", self._stream_path(stream, "/ice"), body)

    def speak_body(self, stream: Stream, text: str, voice=None) -> dict[str, Any]:
        script: dict[str, Any] = {"type": "text", "input": text}
        if voice is not None:
            script["provider"] = voice.as_did_provider()
        if self.kind == "agents":
            # The agents guide's Speak: {"script": {"type": "text", "input": ...}, "session_id": ...}
            return {"script": script, "session_id": stream.session_id}
        script["ssml"] = False
        config = dict(stream.extra.get("talk_config") or {})
        return {"script": script, "config": config, "session_id": stream.session_id}

    async def speak(self, stream: Stream, text: str, voice=None) -> dict[str, Any]:
        text = self.check_text(text)
        return await self._call(
            "POST", self._stream_path(stream), self.speak_body(stream, text, voice)
        )

    async def interrupt(self, stream: Stream) -> None:
        """D-ID documents no server-side interrupt for Talks, Clips or Agents streams (the Agents
        SDK interrupts over the WebRTC data channel, from the browser). Against the local engine
        `interrupt_extension` posts `{prefix}/{id}/interrupt {"session_id"}` instead; otherwise
        the avatar finishes the sentence it is on and the caller stops sending new ones."""
        if not self.interrupt_extension:
            log.debug(
                "D-ID stream %s: no server-side interrupt; letting the sentence finish", stream.id
            )
            return
        try:
            await self._call(
                "POST", self._stream_path(stream, "/interrupt"), {"session_id": stream.session_id}
            )
        except ProviderRejected as exc:
            if exc.status not in (404, 405, 410):
                raise
            # Barge-in is best effort: a stream (or a server) that cannot interrupt has nothing
            # left to stop that the caller could act on.
            log.info("D-ID stream %s: interrupt not possible (%s)", stream.id, exc.status)

    async def close(self, stream: Stream) -> None:
        try:
            await self._call("DELETE", self._stream_path(stream), {"session_id": stream.session_id})
        except ProviderRejected as exc:
            if exc.status not in (404, 410):
                raise
            log.info("D-ID stream %s was already gone (%s)", stream.id, exc.status)
        else:
            log.info("closed D-ID %s stream %s", self.kind, stream.id)

    async def keep_alive(self, stream: Stream) -> None:
        """No-op: D-ID has no keep-alive call; a stream lives `session_timeout` past its last talk."""

    # -- Agents chat (the agent's own LLM answers; we use `speak` for our own text) -----------
    # https://docs.d-id.com/reference/agents-streams-overview, "Chat": create a chat once, then
    # send each message with the stream's `streamId` and `sessionId` so the answer is spoken on
    # that stream. The chat outlives the stream, so a reconnect can keep the conversation.

    async def create_chat(self, agent_id: str) -> str:
        """A new chat with the agent (its own message history); returns the chat id."""
        data = await self._call("POST", f"/agents/{quote(agent_id, safe='')}/chat", {})
        if not data.get("id"):
            raise bad_response("did not return a chat", provider=self.name, service=self.service)
        return str(data["id"])

    async def chat(
        self, agent_id: str, chat_id: str, text: str, stream: Stream | None = None
    ) -> dict[str, Any]:
        """Ask the agent; its LLM and knowledge answer. With a stream, the answer is also spoken
        there. Returns D-ID's answer: `result` (the text), `chatMode`, `matches`, ..."""
        text = self.check_text(text)
        body: dict[str, Any] = {}
        if stream is not None:
            body = {"streamId": stream.id, "sessionId": stream.session_id}
        body["messages"] = [
            {
                "role": "user",
                "content": text,
                # The format of the agents streams overview's example: "03/03/2024, 18:15:00".
                "created_at": datetime.now(UTC).strftime("%m/%d/%Y, %H:%M:%S"),
            }
        ]
        path = f"/agents/{quote(agent_id, safe='')}/chat/{quote(chat_id, safe='')}"
        return await self._call("POST", path, body)

    async def start_chat(self, stream: Stream) -> str:
        """Create a chat for an Agents stream; stores and returns its id (`extra["chat_id"]`)."""
        if self.kind != "agents":
            raise ValueError("Chats exist only for D-ID Agents streams.")
        stream.extra["chat_id"] = await self.create_chat(stream.extra["agent_id"])
        return stream.extra["chat_id"]

    async def send_chat_message(self, stream: Stream, text: str) -> dict[str, Any]:
        """Ask the agent on this stream, starting a chat (kept in `stream.extra`) when needed."""
        chat_id = stream.extra.get("chat_id") or await self.start_chat(stream)
        return await self.chat(stream.extra["agent_id"], chat_id, text, stream)
