"""Settings decide which service each avatar, the recogniser and the LLM talk to."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from avatars.models import Avatar
from streaming.events import group_name
from streaming.providers.avatar.base import Stream
from streaming.providers.avatar.did import DIDProvider
from streaming.providers.avatar.heygen import HeyGenProvider
from streaming.providers.avatar.liveavatar import LiveAvatarProvider
from streaming.providers.errors import ProviderError
from streaming.providers.registry import (
    avatar_provider_for,
    llm_client,
    relay_to_page,
    stt_session,
)
from streaming.providers.tts.openai_speech import OpenAISpeech

from .vendor_wire import DEEPGRAM_KEY, DID_KEY, GROQ_KEY, HEYGEN_KEY


@pytest.fixture
def cloud(settings):
    settings.DID_API_URL = "https://api.d-id.com"
    settings.DID_API_KEY = DID_KEY
    settings.HEYGEN_API_URL = "https://api.heygen.com"
    settings.HEYGEN_API_KEY = HEYGEN_KEY
    settings.DEEPGRAM_URL = "wss://api.deepgram.com"
    settings.DEEPGRAM_API_KEY = DEEPGRAM_KEY
    settings.GROQ_BASE_URL = "https://api.groq.com"
    settings.GROQ_API_KEY = GROQ_KEY
    settings.GROQ_MODEL = "llama-3.3-70b-versatile"
    settings.PROVIDER_TIMEOUT = 7.0
    return settings


@pytest.mark.parametrize(
    ("provider", "kind"), [("did_talks", "talks"), ("did_clips", "clips"), ("did_agents", "agents")]
)
async def test_d_id_avatars_get_the_d_id_client_for_their_stream_kind(cloud, provider, kind):
    async with avatar_provider_for(Avatar(provider=provider)) as did:
        assert isinstance(did, DIDProvider)
        assert (did.kind, did.base_url, did.transport) == (kind, "https://api.d-id.com", "webrtc")
        assert did.client.timeout.read == 7.0
        assert did.interrupt_extension is False  # the real D-ID has no interrupt call


async def test_heygen_avatars_get_the_livekit_client(cloud):
    async with avatar_provider_for(Avatar(provider="heygen")) as heygen:
        assert isinstance(heygen, HeyGenProvider)
        assert (heygen.base_url, heygen.transport, heygen.max_text_chars) == (
            "https://api.heygen.com",
            "livekit",
            1000,
        )


async def test_heygen_without_a_key_says_so_before_calling_anyone(cloud):
    cloud.HEYGEN_API_KEY = ""
    with pytest.raises(ProviderError) as caught:
        avatar_provider_for(Avatar(provider="heygen"))
    assert caught.value.code == "avatar_not_configured"


async def test_by_default_d_id_means_the_local_engine_and_its_interrupt_extension(settings):
    settings.DID_API_URL = f"http://{settings.ENGINE_HOST}:{settings.ENGINE_PORT}"
    async with avatar_provider_for(Avatar(provider="did_talks")) as did:
        assert did.interrupt_extension is True


async def test_an_injected_http_client_is_used_and_left_open(cloud):
    client = httpx.AsyncClient()
    async with avatar_provider_for(Avatar(provider="did_clips"), client=client) as did:
        assert did.client is client
    assert not client.is_closed
    await client.aclose()


def test_speech_recognition_points_at_the_configured_deepgram(cloud):
    session = stt_session(utterance_end_ms=1500)
    assert session.url == "wss://api.deepgram.com"
    assert (session.timeout, session.utterance_end_ms, session.endpointing_ms) == (7.0, 1500, 250)


async def test_the_llm_uses_the_configured_groq_base_url_model_and_timeout(cloud):
    async with llm_client() as llm:
        assert llm.model == "llama-3.3-70b-versatile"
        assert str(llm._client.base_url).rstrip("/") == "https://api.groq.com"
        assert llm._client.timeout == 7.0 and llm._client.max_retries == 2
        assert GROQ_KEY not in repr(llm)


LIVEAVATAR_KEY = "liveavatar-test-key-0123456789abcdef"


@pytest.fixture
def liveavatar(cloud):
    cloud.LIVEAVATAR_API_URL = "https://api.liveavatar.com"
    cloud.LIVEAVATAR_API_KEY = LIVEAVATAR_KEY
    cloud.LIVEAVATAR_MODE = "LITE"
    cloud.LIVEAVATAR_TTS_URL = "https://api.openai.com/v1"
    cloud.LIVEAVATAR_TTS_API_KEY = "sk-tts-test-key"
    cloud.LIVEAVATAR_TTS_MODEL = "gpt-4o-mini-tts"
    cloud.LIVEAVATAR_TTS_VOICE = "alloy"
    return cloud


async def test_liveavatar_lite_avatars_get_livekit_and_the_configured_speech(liveavatar):
    async with avatar_provider_for(Avatar(provider="liveavatar")) as provider:
        assert isinstance(provider, LiveAvatarProvider)
        assert (provider.base_url, provider.mode, provider.transport) == (
            "https://api.liveavatar.com", "LITE", "livekit")
        assert isinstance(provider.speech, OpenAISpeech)
        assert (provider.speech.base_url, provider.speech.model) == (
            "https://api.openai.com/v1", "gpt-4o-mini-tts")
        assert provider.relay is relay_to_page
        assert LIVEAVATAR_KEY not in repr(provider)


async def test_liveavatar_full_mode_needs_no_speech_service(liveavatar):
    liveavatar.LIVEAVATAR_MODE = "full"
    async with avatar_provider_for(Avatar(provider="liveavatar")) as provider:
        assert provider.mode == "FULL" and provider.speech is None


async def test_liveavatar_without_a_key_says_so_before_calling_anyone(liveavatar):
    liveavatar.LIVEAVATAR_API_KEY = ""
    with pytest.raises(ProviderError) as caught:
        avatar_provider_for(Avatar(provider="liveavatar"))
    assert caught.value.code == "avatar_not_configured"


async def test_the_relay_reaches_the_group_of_the_conversation_holding_the_stream(
    transactional_db, settings, alice, make_conversation
):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    conversation = await sync_to_async(make_conversation)(
        alice, status="live", provider_stream_id="la-session-1"
    )
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(group_name(conversation.pk), channel)
    stream = Stream("la-session-1", "la-session-1", None, [], "liveavatar", {"mode": "FULL"})
    await relay_to_page(stream, "livekit.data", {"topic": "agent-control", "data": {"x": 1}})
    await relay_to_page(Stream("gone", "gone", None, [], "liveavatar"), "livekit.data", {})
    received = await layer.receive(channel)
    assert received == {"type": "relay", "message": {
        "type": "livekit.data", "topic": "agent-control", "data": {"x": 1}}}
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(layer.receive(channel), 0.1)
