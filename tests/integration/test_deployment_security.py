"""Production settings: a required SECRET_KEY, a clean `check --deploy`, a CSP the pages live
under, login throttling, and uploads checked for what they are."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "HTTPS": "true",
    "SECRET_KEY": "k" * 20 + "-production-secret-from-the-environment-" + "z" * 20,
    "ALLOWED_HOSTS": "livepersona.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://livepersona.example.com",
}


def manage(*args: str, env: dict[str, str], tmp_path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items()
            if k not in {"SECRET_KEY", "DEBUG", "HTTPS", "TESTING", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=120, env={**base, "VAR_DIR": str(tmp_path / "var"), "TESTING": "false", **env},
    )


def test_check_deploy_is_clean_with_the_production_environment(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION,
                    tmp_path=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_without_debug_the_server_refuses_to_start_without_a_secret_key(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    result = manage("check", env=env, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_make_run_generates_a_secret_key_once_and_the_settings_read_it(tmp_path):
    env = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    base = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    made = subprocess.run([sys.executable, "-m", "config.secret_key"], cwd=ROOT, text=True,
                          capture_output=True, env={**base, "VAR_DIR": str(tmp_path / "var")})
    assert made.returncode == 0, made.stderr
    key_file = tmp_path / "var" / "secret_key"
    key = key_file.read_text().strip()
    assert len(key) >= 50 and oct(key_file.stat().st_mode & 0o777) == "0o600"
    subprocess.run([sys.executable, "-m", "config.secret_key"], cwd=ROOT, check=True,
                   capture_output=True, env={**base, "VAR_DIR": str(tmp_path / "var")})
    assert key_file.read_text().strip() == key  # kept, not regenerated
    shown = manage("shell", "--verbosity", "0", "-c", "from django.conf import settings; print(settings.SECRET_KEY)",
                   env=env, tmp_path=tmp_path)
    assert shown.stdout.strip() == key, shown.stderr


@pytest.mark.django_db
def test_pages_carry_a_csp_that_allows_only_their_own_scripts(client, alice, avatar):
    client.force_login(alice)
    response = client.get(reverse("frontend:talk", args=[avatar.slug]))
    policy = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert policy["object-src"] == "'none'" and policy["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "wss://*.livekit.cloud" in policy["connect-src"]  # HeyGen's LiveKit rooms
    # Nothing on the page needs inline script: scripts are files, the config a JSON data block.
    page = response.content.decode()
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert 'src="' in tag or 'type="application/json"' in tag, tag
    assert not re.search(r"\son[a-z]+=", page)  # no inline event handlers
    assert " style=" not in page


@pytest.mark.django_db
def test_repeated_failed_logins_lock_the_account_out_from_that_address(settings, client, alice):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(3):
        response = client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert response.status_code == 429
    # Locked out: even the right password is refused now.
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_a_successful_login_resets_the_failure_count(settings, client, alice):
    settings.AXES_ENABLED = True
    settings.AXES_FAILURE_LIMIT = 3
    for _ in range(2):
        client.post(reverse("login"), {"username": "alice", "password": "wrong"})
    assert client.post(reverse("login"), {"username": "alice",
                                          "password": "alice-pass-123"}).status_code == 302
    client.logout()
    for _ in range(2):
        assert client.post(reverse("login"), {"username": "alice",
                                              "password": "wrong"}).status_code == 200


def png_bytes() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buffer, format="PNG")
    return buffer.getvalue()


MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00" * 64
WEBM = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01\x42\x82\x84webm" + b"\x00" * 32
HTML = b"<!doctype html><script>alert(document.cookie)</script>"


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "content", "accepted"), [
    ("idle.mp4", MP4, True),
    ("idle.webm", WEBM, True),
    ("idle.mp4", HTML, False),   # named like a video, is a web page
    ("idle.html", HTML, False),
    ("idle.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", False),
    ("idle.webm", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, False),  # a picture, not a video
], ids=["mp4", "webm", "web-page-named-mp4", "web-page", "svg", "image-named-webm"])
def test_an_idle_video_must_be_an_mp4_or_webm(client, staff, avatar, name, content, accepted):
    from avatars.models import Avatar

    client.force_login(staff)
    url = reverse("admin:avatars_avatar_change", args=[avatar.pk])
    form = {
        "name": avatar.name, "slug": avatar.slug, "provider": avatar.provider,
        "language": "en-US", "reply_mode": "agent",
        "is_active": "on", "compatibility_mode": "on", "session_timeout": 300, "pad_audio": 0,
        "stream_warmup": "on", "stitch": "on",
        "idle_video": SimpleUploadedFile(name, content),
    }
    response = client.post(url, form)
    saved = Avatar.objects.get(pk=avatar.pk).idle_video
    if accepted:
        assert response.status_code == 302, response.content.decode()[:2000]
        assert saved.name.endswith(Path(name).suffix)
    else:
        assert response.status_code == 200 and not saved
        assert "MP4 or WebM" in response.content.decode() or "not allowed" in response.content.decode()


@pytest.mark.parametrize(("name", "content", "ok"), [
    ("face.png", "png", True),
    ("face.jpg", b"\xff\xd8\xff\xe0" + b"\x00" * 16, True),
    ("face.png", HTML, False),
    ("face.gif", b"GIF89a" + b"\x00" * 16, False),
], ids=["png", "jpeg", "web-page-named-png", "gif"])
def test_a_photo_must_be_a_jpeg_or_png(name, content, ok):
    from django.core.exceptions import ValidationError

    from avatars.validators import validate_photo

    upload = SimpleUploadedFile(name, png_bytes() if content == "png" else content)
    if ok:
        validate_photo(upload)
    else:
        with pytest.raises(ValidationError):
            validate_photo(upload)
