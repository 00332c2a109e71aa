"""The live page and an avatar's idle video: none, no <video> for it; an upload, looped muted and
shown first (before any stream is ready), its URL handed to the page's script."""

import json
import re

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse

pytestmark = pytest.mark.django_db

# The first bytes of a WebM file (EBML header, doctype "webm"): what the upload check reads.
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + b"\x00" * 32


def client_config(page: str) -> dict:
    found = re.search(r'<script id="client-config" type="application/json">(.*?)</script>', page, re.S)
    assert found, "the live page has no client config"
    return json.loads(found.group(1))


def test_the_live_page_loops_the_avatars_idle_video_muted_until_the_stream_talks(
    client, alice, avatar
):
    client.force_login(alice)
    page = client.get(reverse("frontend:talk", args=["ada"])).content.decode()
    assert client_config(page)["idleVideo"] is None
    assert 'id="idle-video"' not in page and 'data-shown="live"' in page

    avatar.idle_video.save("ada-idle.webm", ContentFile(WEBM), save=True)
    page = client.get(reverse("frontend:talk", args=["ada"])).content.decode()
    url = avatar.idle_video.url
    assert url.startswith("/media/avatars/idle/") and url.endswith(".webm")
    assert client_config(page)["idleVideo"] == url
    video = re.search(r'<video id="idle-video"[^>]*>', page).group(0)
    assert f'src="{url}"' in video
    for attribute in ("autoplay", "muted", "loop", "playsinline"):
        assert f" {attribute}" in video, attribute
    assert 'data-shown="idle"' in page  # the loop shows first, before any stream is ready
