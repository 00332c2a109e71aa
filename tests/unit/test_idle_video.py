"""Which idle loop the live page plays: the avatar's upload, else its Clips presenter's, and
only a URL a browser may load as it is (https, or the local engine's own address)."""

from __future__ import annotations

import pytest
from django.core.files.base import ContentFile

from avatars import catalog
from avatars.idle_video import idle_video_url, playable
from avatars.models import Avatar

ENGINE_LOOP = "http://127.0.0.1:8700/clips/presenters/local-astronaut/idle.webm"
DID_LOOP = "https://clips-presenters.d-id.com/amber/idle.mp4"


@pytest.fixture
def presenters(monkeypatch, settings):
    settings.ENGINE_HOST, settings.ENGINE_PORT = "127.0.0.1", 8700
    listed = [
        catalog.Presenter("local-astronaut", "local-talking-head", "female", ENGINE_LOOP),
        catalog.Presenter("amber", "uM00QMwJ9x", "female", DID_LOOP),
        catalog.Presenter("elsewhere", "d", "female", "http://cdn.example/idle.mp4"),
        catalog.Presenter("plain", "d", "female"),
    ]
    monkeypatch.setattr(catalog, "presenters", lambda **_: catalog.Listing(listed))
    return listed


def clips(presenter_id: str) -> Avatar:
    return Avatar(name="Clip", slug="clip", provider=Avatar.Provider.DID_CLIPS,
                  presenter_id=presenter_id)


@pytest.mark.parametrize(("presenter_id", "expected"), [
    ("local-astronaut", ENGINE_LOOP),  # the local engine's own loop of its face
    ("amber", DID_LOOP),               # D-ID's, over https
    ("elsewhere", ""),                 # plain http, not the engine: not loaded
    ("plain", ""),                     # a presenter without one
    ("unknown", ""),                   # not in the list
])
def test_a_clips_avatar_without_an_upload_plays_its_presenters_loop(presenters, presenter_id,
                                                                    expected):
    assert idle_video_url(clips(presenter_id)) == expected


def test_an_uploaded_idle_video_comes_first(presenters):
    avatar = clips("local-astronaut")
    avatar.idle_video.save("own.webm", ContentFile(b"\x1a\x45\xdf\xa3 webm"), save=False)
    assert idle_video_url(avatar) == avatar.idle_video.url
    assert avatar.idle_video.url.startswith("/media/avatars/idle/")


def test_a_talks_avatar_never_asks_for_the_presenter_list(monkeypatch):
    monkeypatch.setattr(catalog, "presenters", lambda **_: pytest.fail("fetched the list"))
    avatar = Avatar(name="Ada", slug="ada", provider=Avatar.Provider.DID_TALKS,
                    presenter_id="local-astronaut")
    assert idle_video_url(avatar) == ""


@pytest.mark.parametrize(("url", "ok"), [
    (DID_LOOP, True),
    (ENGINE_LOOP, True),
    ("http://127.0.0.1:9999/idle.webm", False),      # not the engine's port
    ("https://user:secret@cdn.example/idle.mp4", False),  # credentials in the URL
    ("javascript:alert(1)", False),
    ("data:video/webm;base64,AAAA", False),
    ("/relative/idle.webm", False),
    ("", False),
])
def test_only_urls_a_browser_may_load_as_they_are(settings, url, ok):
    settings.ENGINE_HOST, settings.ENGINE_PORT = "127.0.0.1", 8700
    assert playable(url) is ok
