"""Settings decide which service each avatar, the recogniser and the LLM talk to."""

from __future__ import annotations

import httpx
import pytest

from avatars.models import Avatar
from streaming.providers.avatar.did import DIDProvider
from streaming.providers.avatar.heygen import HeyGenProvider
from streaming.providers.errors import ProviderError
from streaming.providers.registry import avatar_provider_for, llm_client, stt_session

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
    assert caught.value.code == "provider_not_configured"


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
    assert (session.timeout, session.utterance_end_ms, session.endpointing_ms) == (7.0, 1500, 300)


async def test_the_llm_uses_the_configured_groq_base_url_model_and_timeout(cloud):
    async with llm_client() as llm:
        assert llm.model == "llama-3.3-70b-versatile"
        assert str(llm._client.base_url).rstrip("/") == "https://api.groq.com"
        assert llm._client.timeout == 7.0 and llm._client.max_retries == 2
        assert GROQ_KEY not in repr(llm)
