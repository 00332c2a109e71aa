"""The live page's start: a non-English avatar on the local engine is refused with its code."""

from __future__ import annotations

from django.urls import reverse

from conversations.models import Conversation


def test_the_page_start_refuses_a_japanese_avatar_on_the_local_engine(client, alice, avatar):
    avatar.language = "ja-JP"
    avatar.save()
    client.force_login(alice)
    response = client.post(reverse("frontend:start-session", args=[avatar.slug]))
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "language_unsupported"
    assert "supports English only" in body["message"]
    assert not Conversation.objects.exists()


def test_the_same_avatar_starts_when_the_cloud_serves_it(client, alice, avatar, settings):
    settings.DID_API_URL = "https://api.d-id.com"
    settings.DEEPGRAM_URL = "wss://api.deepgram.com"
    avatar.language = "ja-JP"
    avatar.save()
    client.force_login(alice)
    response = client.post(reverse("frontend:start-session", args=[avatar.slug]))
    assert response.status_code == 201
