"""Which client serves which avatar, configured from Django settings.

Everything here reads settings when called (never at import), and hands out a fresh client:
use them as `async with` so each is closed in the event loop that used it (Celery tasks run a
new loop per task).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx

from .avatar.base import AvatarProvider
from .avatar.did import DIDProvider, Kind
from .avatar.heygen import HeyGenProvider
from .errors import ProviderError
from .http import make_client
from .llm.groq import GroqChat
from .stt.deepgram import DeepgramLiveSession

DID_KINDS: dict[str, Kind] = {"did_talks": "talks", "did_clips": "clips", "did_agents": "agents"}

# Integration tests fake the vendors at the HTTP boundary for every client this module hands out,
# including those made in a Celery worker thread; a module global reaches them all.
_transport_override: httpx.AsyncBaseTransport | None = None


@contextmanager
def use_transport(transport: httpx.AsyncBaseTransport) -> Iterator[None]:
    """Route every provider client made meanwhile through `transport` (tests only)."""
    global _transport_override
    previous, _transport_override = _transport_override, transport
    try:
        yield
    finally:
        _transport_override = previous


def _client(timeout: float) -> httpx.AsyncClient | None:
    if _transport_override is None:
        return None
    return make_client(timeout=timeout, transport=_transport_override)


def _settings():
    from django.conf import settings

    return settings


def is_local_engine(url: str) -> bool:
    """Whether `url` points at our own engine (ENGINE_HOST:ENGINE_PORT)."""
    settings = _settings()
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return False
    return parsed.host == settings.ENGINE_HOST and parsed.port == settings.ENGINE_PORT


def avatar_provider_for(avatar, *, client: httpx.AsyncClient | None = None) -> AvatarProvider:
    """The provider client for `avatar.provider` (D-ID Talks/Clips/Agents or HeyGen)."""
    settings = _settings()
    timeout = settings.PROVIDER_TIMEOUT
    client = client or _client(timeout)
    if avatar.provider == "heygen":
        if not settings.HEYGEN_API_KEY:
            raise ProviderError(
                "HeyGen avatars are not available: no HeyGen API key is configured.",
                provider="heygen",
                code="provider_not_configured",
            )
        return HeyGenProvider(
            settings.HEYGEN_API_URL, settings.HEYGEN_API_KEY, client, timeout=timeout
        )
    kind = DID_KINDS.get(avatar.provider)
    if kind is None:
        raise ValueError(f"Unknown avatar provider {avatar.provider!r}.")
    interrupt_extension = getattr(settings, "DID_INTERRUPT_EXTENSION", None)
    if interrupt_extension is None:
        interrupt_extension = is_local_engine(settings.DID_API_URL)
    return DIDProvider(
        settings.DID_API_URL,
        settings.DID_API_KEY,
        kind,
        client,
        timeout=timeout,
        interrupt_extension=bool(interrupt_extension),
    )


def stt_session(**options: Any) -> DeepgramLiveSession:
    """A new (not yet started) live transcription session; `options` override the defaults."""
    settings = _settings()
    options.setdefault("endpointing_ms", getattr(settings, "DEEPGRAM_ENDPOINTING_MS", 300))
    options.setdefault("timeout", settings.PROVIDER_TIMEOUT)
    return DeepgramLiveSession(settings.DEEPGRAM_URL, settings.DEEPGRAM_API_KEY, **options)


def llm_client(*, http_client: httpx.AsyncClient | None = None) -> GroqChat:
    settings = _settings()
    http_client = http_client or _client(settings.PROVIDER_TIMEOUT)
    return GroqChat(
        settings.GROQ_BASE_URL,
        settings.GROQ_API_KEY,
        settings.GROQ_MODEL,
        timeout=settings.PROVIDER_TIMEOUT,
        max_retries=2,
        http_client=http_client,
    )


# Long-lived clients for the Celery worker's one event loop (streaming/worker_loop.py): their
# connection pools stay warm across turns. Keyed by what configures them, so that changed
# settings (or a test's transport) get a client of their own.
_shared: dict[tuple, Any] = {}


def _shared_key(*parts: Any) -> tuple:
    settings = _settings()
    return (*parts, id(_transport_override), settings.PROVIDER_TIMEOUT)


def shared_avatar_provider(avatar) -> AvatarProvider:
    """Like avatar_provider_for, but reused by every call from this process's task loop."""
    settings = _settings()
    if avatar.provider == "heygen":
        key = _shared_key("heygen", settings.HEYGEN_API_URL, settings.HEYGEN_API_KEY)
    else:
        key = _shared_key(avatar.provider, settings.DID_API_URL, settings.DID_API_KEY,
                          getattr(settings, "DID_INTERRUPT_EXTENSION", None))
    if key not in _shared:
        _shared[key] = avatar_provider_for(avatar)
    return _shared[key]


def shared_llm_client() -> GroqChat:
    settings = _settings()
    key = _shared_key("groq", settings.GROQ_BASE_URL, settings.GROQ_API_KEY, settings.GROQ_MODEL)
    if key not in _shared:
        _shared[key] = llm_client()
    return _shared[key]
