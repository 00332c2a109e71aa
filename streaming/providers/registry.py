"""Which client serves which avatar, configured from Django settings.

Everything here reads settings when called (never at import), and hands out a fresh client:
use them as `async with` so each is closed in the event loop that used it. The Celery worker
keeps one long-lived loop per process (streaming/worker_loop.py) with shared clients, below.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from django.conf import settings

from .. import events
from .avatar.base import AvatarProvider, Stream
from .avatar.did import DIDProvider, Kind
from .avatar.did_agents import DIDAgentsClient
from .avatar.heygen import HeyGenProvider
from .avatar.liveavatar import LiveAvatarProvider
from .errors import ProviderError
from .http import make_client
from .llm.groq import GroqChat
from .stt.deepgram import DEFAULT_ENDPOINTING_MS, DeepgramLiveSession
from .tts.openai_speech import OpenAISpeech

log = logging.getLogger(__name__)

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
    """The provider client for `avatar.provider` (D-ID Talks/Clips/Agents, HeyGen, LiveAvatar)."""
    settings = _settings()
    timeout = settings.PROVIDER_TIMEOUT
    client = client or _client(timeout)
    if avatar.provider == "heygen":
        if not settings.HEYGEN_API_KEY:
            raise ProviderError(
                "HeyGen avatars are not available: no HeyGen API key is configured.",
                provider="heygen",
                service=HeyGenProvider.service,
                kind="not_configured",
            )
        return HeyGenProvider(
            settings.HEYGEN_API_URL,
            settings.HEYGEN_API_KEY,
            client,
            timeout=timeout,
        )
    if avatar.provider == "liveavatar":
        return liveavatar_provider(client)
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


def did_agents_client() -> DIDAgentsClient:
    """D-ID's agents, knowledge and documents API (or the local engine's), for the admin's sync."""
    settings = _settings()
    timeout = settings.PROVIDER_TIMEOUT
    return DIDAgentsClient(
        settings.DID_API_URL, settings.DID_API_KEY, _client(timeout), timeout=timeout,
        owns_client=True,
    )


def liveavatar_provider(client: httpx.AsyncClient | None = None) -> LiveAvatarProvider:
    """LiveAvatar in the configured mode; LITE speaks through the configured speech service."""
    settings = _settings()
    if not settings.LIVEAVATAR_API_KEY:
        raise ProviderError(
            "LiveAvatar avatars are not available: no LiveAvatar API key is configured.",
            provider="liveavatar",
            service=LiveAvatarProvider.service,
                kind="not_configured",
        )
    timeout = settings.PROVIDER_TIMEOUT
    mode = str(settings.LIVEAVATAR_MODE).upper()
    speech = None
    if mode == "LITE":
        speech = OpenAISpeech(
            settings.LIVEAVATAR_TTS_URL,
            settings.LIVEAVATAR_TTS_API_KEY,
            settings.LIVEAVATAR_TTS_MODEL,
            settings.LIVEAVATAR_TTS_VOICE,
            client,
            timeout=timeout,
        )
    return LiveAvatarProvider(
        settings.LIVEAVATAR_API_URL,
        settings.LIVEAVATAR_API_KEY,
        client,
        mode=mode,
        sandbox=settings.LIVEAVATAR_SANDBOX,
        context_id=settings.LIVEAVATAR_CONTEXT_ID,
        speech=speech,
        relay=relay_to_page,
        timeout=timeout,
    )


async def relay_to_page(stream: Stream, kind: str, fields: dict[str, Any]) -> None:
    """Send a message to the page(s) of the conversation that holds `stream`, from any process:
    LiveAvatar's FULL-mode commands (the page publishes them in the room) and its LITE-mode
    talking events."""
    # Function-level: the registry is imported before Django's apps are ready.
    from conversations.models import Conversation

    conversation_id = await (
        Conversation.objects.filter(provider_stream_id=stream.id)
        .values_list("pk", flat=True)
        .afirst()
    )
    if conversation_id is None:
        log.warning("no conversation holds %s stream %s; %s dropped", stream.provider, stream.id, kind)
        return
    await events.publish(events.group_name(conversation_id), kind, **fields)


def stt_session(**options: Any) -> DeepgramLiveSession:
    """A new (not yet started) live transcription session; `options` override the defaults."""
    settings = _settings()
    options.setdefault("endpointing_ms", getattr(settings, "DEEPGRAM_ENDPOINTING_MS", DEFAULT_ENDPOINTING_MS))
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
    elif avatar.provider == "liveavatar":
        key = _shared_key("liveavatar", settings.LIVEAVATAR_API_URL, settings.LIVEAVATAR_API_KEY,
                          settings.LIVEAVATAR_MODE, settings.LIVEAVATAR_TTS_URL,
                          settings.LIVEAVATAR_CONTEXT_ID)  # a context: its LLM writes replies
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
