"""The keep-alive beat: streams of providers with a keep-alive call are kept alive while their
page is attached and they near the provider's idle limit; nothing else is touched."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from avatars.models import Avatar
from conversations.models import Conversation
from conversations.services import start_conversation
from streaming import presence, worker_loop
from streaming.keep_alive import keep_streams_alive
from streaming.providers.registry import use_transport

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(60)]


def live(user, avatar, stream_id, idle_seconds, **fields):
    return Conversation.objects.create(
        user=user, avatar=avatar, status="live", idle_timeout=600,
        last_activity=timezone.now() - timedelta(seconds=idle_seconds),
        provider_stream_id=stream_id, provider_session_id=f"sess-{stream_id}",
        provider_state={"id": stream_id, "session_id": f"sess-{stream_id}", "offer": None,
                        "ice_servers": [], "provider": avatar.provider, "extra": {}},
        **fields,
    )


@pytest.fixture
def heygen(settings):
    settings.HEYGEN_API_URL = "https://api.heygen.test"
    settings.HEYGEN_API_KEY = "heygen-test-key"
    settings.PROVIDER_TIMEOUT = 2.0
    sent: list[tuple[str, dict]] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, json.loads(request.content or b"{}")))
        return httpx.Response(200, json={"code": 100, "message": "success"})

    with use_transport(httpx.MockTransport(handler)):
        yield sent


def test_only_attached_streams_near_their_limit_are_kept_alive(heygen, alice, avatar):
    face = Avatar.objects.create(name="H", slug="h", provider="heygen",
                                 heygen_avatar_name="Wayne_20240711", session_timeout=120)
    near = live(alice, face, "hg_near", idle_seconds=100)
    fresh = live(alice, face, "hg_fresh", idle_seconds=10)
    abandoned = live(alice, face, "hg_abandoned", idle_seconds=100)
    did_talks = live(alice, avatar, "strm_talks", idle_seconds=290)
    for conversation in (near, fresh, did_talks):
        worker_loop.run(presence.take(conversation.pk, f"channel-{conversation.pk}"))
    worker_loop.run(presence.detach(abandoned.pk, "nobody"))

    assert keep_streams_alive() == 1
    assert heygen == [("/v1/streaming.keep_alive", {"session_id": "sess-hg_near"})]
    near.refresh_from_db()
    assert near.last_activity < timezone.now() - timedelta(seconds=90)  # the reaper's clock stays


def test_an_agent_conversation_is_reaped_when_its_stream_would_end(alice):
    agent_face = Avatar.objects.create(name="A", slug="a", provider="did_agents",
                                       agent_id="agt_1", session_timeout=300)
    assert start_conversation(alice, agent_face).idle_timeout == 120
