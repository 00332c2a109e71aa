"""The avatar provider interface and the Stream it hands out.

A Stream is everything the rest of the product needs to keep talking to one provider session
from any process: it is stored on the Conversation (`provider_state`) as plain JSON and rebuilt
in the Celery worker with `Stream.from_dict`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal, Self

import httpx

from ...error_codes import AVATAR, Service


@dataclass
class Stream:
    """One provider session.

    `offer` is the provider's SDP offer `{"type": "offer", "sdp": ...}` for WebRTC transports and
    None for LiveKit (HeyGen), whose room details live in `extra` (`url`, `access_token`).
    `extra` also carries what later calls need, e.g. D-ID Agents' `agent_id` and `chat_id`.
    """

    id: str
    session_id: str
    offer: dict[str, str] | None
    ice_servers: list[dict[str, Any]]
    provider: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Stream:
        return cls(
            id=str(data["id"]),
            session_id=str(data.get("session_id") or ""),
            offer=dict(data["offer"]) if data.get("offer") else None,
            ice_servers=list(data.get("ice_servers") or []),
            provider=str(data.get("provider") or ""),
            extra=dict(data.get("extra") or {}),
        )


class AvatarProvider(ABC):
    """A talking-head service: open a stream, finish the handshake, make it speak, close it.

    Use as `async with provider:` (or call `aclose()`) so the HTTP client is closed in the event
    loop that used it.
    """

    name: ClassVar[str] = "avatar"
    service: ClassVar[Service] = Service(AVATAR, "avatar service")
    transport: ClassVar[Literal["webrtc", "livekit"]] = "webrtc"
    max_text_chars: int = 1000

    def __init__(self, client: httpx.AsyncClient, *, owns_client: bool = True) -> None:
        self.client = client
        self._owns_client = owns_client

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if we made it (an injected client belongs to its owner)."""
        if self._owns_client:
            await self.client.aclose()

    @abstractmethod
    async def open(self, avatar) -> Stream:
        """Create a provider session for `avatar` (an avatars.models.Avatar)."""

    @abstractmethod
    async def answer(self, stream: Stream, sdp: str) -> None:
        """Hand the browser's SDP answer to the provider."""

    @abstractmethod
    async def add_ice(
        self,
        stream: Stream,
        candidate: str | None,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        """Forward one trickled browser ICE candidate; `candidate=None` means end-of-candidates."""

    @abstractmethod
    async def speak(self, stream: Stream, text: str, voice=None) -> dict[str, Any]:
        """Make the avatar say `text` (at most `max_text_chars`); returns the provider's answer."""

    @abstractmethod
    async def interrupt(self, stream: Stream) -> None:
        """Stop the avatar mid-sentence (barge-in), where the provider can."""

    @abstractmethod
    async def close(self, stream: Stream) -> None:
        """End the provider session. A session the provider has already forgotten counts as closed."""

    async def keep_alive(self, stream: Stream) -> None:  # noqa: B027 - a no-op is the right default
        """Tell the provider the session is still wanted; a no-op where the vendor has no such call."""

    def check_text(self, text: str) -> str:
        """The text to speak, stripped; ValueError if empty or over the provider's cap."""
        text = text.strip()
        if not text:
            raise ValueError("Nothing to say: the text is empty.")
        if len(text) > self.max_text_chars:
            raise ValueError(
                f"{len(text)} characters is over {self.service}'s limit of {self.max_text_chars} "
                "per message; split the reply into sentences first."
            )
        return text


class LiveKitSignalling:
    """Mixin for providers whose sessions are LiveKit rooms (HeyGen v2, LiveAvatar): the browser
    and the room negotiate media and exchange ICE candidates themselves, so both are no-ops."""

    async def answer(self, stream: Stream, sdp: str) -> None:
        """No-op: LiveKit negotiates media inside the room."""

    async def add_ice(
        self,
        stream: Stream,
        candidate: str | None,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        """No-op: LiveKit gathers and exchanges ICE candidates inside the room."""
