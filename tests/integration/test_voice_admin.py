"""Staff pick voices, presenters and drivers from the providers' lists in the admin, and a voice
that doesn't fit its avatar is refused with the reason."""

from __future__ import annotations

import httpx
import pytest
from django.urls import reverse

from avatars import catalog
from avatars.models import Avatar, Voice
from engine import catalog as engine_catalog
from engine.presenters import presenter_ids


@pytest.fixture(autouse=True)
def engine_lists(settings, monkeypatch):
    """The local engine's answers to GET /tts/voices and /clips/presenters (D-ID's URL is the
    engine's, the default), counted."""
    catalog.refresh()
    asked = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        if request.url.path == "/tts/voices":
            return httpx.Response(200, json=engine_catalog.voices())
        if request.url.path == "/clips/presenters":
            return httpx.Response(200, json=engine_catalog.presenters(presenter_ids()))
        return httpx.Response(404)

    settings.HEYGEN_API_KEY = settings.LIVEAVATAR_API_KEY = ""
    monkeypatch.setattr(catalog, "new_client",
                        lambda: httpx.Client(transport=httpx.MockTransport(answer)))
    yield asked
    catalog.refresh()


def voice_form(**fields) -> dict:
    return {"name": "Joe", "provider": "local", "voice_id": "en_US-joe-medium",
            "language": "en-US", "style": "", "config": "{}", **fields}


def test_the_voice_form_offers_the_providers_voices(client, staff):
    client.force_login(staff)
    page = client.get(reverse("admin:avatars_voice_add")).content.decode()
    assert 'list="voice-catalog"' in page
    assert '<option value="en_US-joe-medium"' in page
    assert 'data-provider="local"' in page and 'data-language="en-US"' in page
    assert "avatars/picker.js" in page


def test_a_listed_voice_is_saved_and_an_unlisted_one_refused(client, staff):
    client.force_login(staff)
    url = reverse("admin:avatars_voice_add")
    refused = client.post(url, voice_form(voice_id="en_US-amy-low"))
    assert refused.status_code == 200
    assert "en_US-amy-low is not in the local voice list" in refused.content.decode()
    saved = client.post(url, voice_form())
    assert saved.status_code == 302
    assert Voice.objects.filter(voice_id="en_US-joe-medium", provider="local").exists()


def test_a_voice_must_speak_the_language_its_list_says(client, staff):
    client.force_login(staff)
    response = client.post(reverse("admin:avatars_voice_add"), voice_form(language="ja-JP"))
    assert "Joe speaks en-US, not ja-JP." in response.content.decode()


def test_refresh_fetches_the_lists_again(client, staff, engine_lists):
    client.force_login(staff)
    client.get(reverse("admin:avatars_voice_add"))
    client.get(reverse("admin:avatars_voice_add"))
    assert engine_lists.count("/tts/voices") == 1  # cached
    changelist = client.get(reverse("admin:avatars_voice_changelist")).content.decode()
    assert "Refresh provider lists" in changelist
    assert client.get(reverse("admin:avatars_voice_refresh_catalog")).status_code == 405
    response = client.post(reverse("admin:avatars_voice_refresh_catalog"))
    assert response.status_code == 302
    client.get(reverse("admin:avatars_voice_add"))
    assert engine_lists.count("/tts/voices") == 2


def test_refresh_is_for_staff_only(client, alice):
    client.force_login(alice)
    response = client.post(reverse("admin:avatars_voice_refresh_catalog"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def avatar_form(**fields) -> dict:
    return {"name": "Clip", "slug": "clip", "provider": "did_clips", "is_active": "on",
            "language": "en-US", "reply_mode": "agent", "compatibility_mode": "on", "session_timeout": 300,
            "pad_audio": 0, "stitch": "on", "stream_warmup": "on", **fields}


def test_the_avatar_form_offers_presenters_and_their_drivers(client, staff):
    client.force_login(staff)
    page = client.get(reverse("admin:avatars_avatar_add")).content.decode()
    assert 'list="presenter-catalog"' in page and 'list="driver-catalog"' in page
    for presenter in presenter_ids():
        assert f'<option value="{presenter}"' in page
    assert f'<option value="{engine_catalog.LOCAL_DRIVER}"' in page


def test_a_clips_avatar_takes_a_listed_presenter_only(client, staff):
    client.force_login(staff)
    url = reverse("admin:avatars_avatar_add")
    refused = client.post(url, avatar_form(presenter_id="amy-jcwCkr1grs"))
    assert "amy-jcwCkr1grs is not in the provider&#x27;s presenter list." in refused.content.decode()
    saved = client.post(url, avatar_form(presenter_id="local-astronaut-sepia",
                                         driver_id=engine_catalog.LOCAL_DRIVER))
    assert saved.status_code == 302
    assert Avatar.objects.get(slug="clip").presenter_id == "local-astronaut-sepia"


def test_a_mismatched_voice_is_refused_with_the_reason(client, staff, settings):
    settings.DID_API_URL = "https://api.d-id.com"
    local = Voice.objects.create(name="Joe", provider="local", voice_id="en_US-joe-medium")
    client.force_login(staff)
    response = client.post(reverse("admin:avatars_avatar_add"), avatar_form(
        provider="did_talks", source_url="https://example.com/face.jpg", voice=local.pk))
    assert response.status_code == 200
    assert "DID_API_URL points at D-ID itself" in response.content.decode()
    assert not Avatar.objects.filter(slug="clip").exists()


def test_the_avatar_form_offers_voices_in_the_avatars_language(client, staff, avatar):
    Voice.objects.create(name="Nanami", provider="microsoft", voice_id="ja-JP-NanamiNeural",
                         language="ja-JP")
    client.force_login(staff)
    page = client.get(reverse("admin:avatars_avatar_change", args=[avatar.pk])).content.decode()
    assert "Joe (Local engine (Piper))" in page and "Nanami" not in page
    avatar.language = "ja-JP"
    avatar.voice = None
    avatar.save()
    page = client.get(reverse("admin:avatars_avatar_change", args=[avatar.pk])).content.decode()
    assert "Nanami" in page and "Joe (Local engine (Piper))" not in page
