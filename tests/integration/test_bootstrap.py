import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_bootstrap_creates_users_persona_voice_and_demo_avatar_once(settings, tmp_path, capsys):
    from django.contrib.auth import get_user_model

    from avatars.models import Avatar, Persona, Voice

    settings.VAR_DIR = tmp_path / "var"
    call_command("bootstrap")
    first = capsys.readouterr().out
    assert "Created user demo /" in first and "Created user admin /" in first
    call_command("bootstrap")
    second = capsys.readouterr().out
    assert "Created user" not in second and "Bootstrap complete." in second

    User = get_user_model()
    assert User.objects.filter(username="demo", is_staff=False).count() == 1
    assert User.objects.filter(username="admin", is_staff=True).count() == 1
    assert Persona.objects.count() == 1 and Voice.objects.count() == 1
    avatar = Avatar.objects.get(slug="astronaut")
    avatar.full_clean()
    assert avatar.source_image.size > 10_000 and avatar.persona and avatar.voice
    # The printed password logs in.
    password = first.split("Created user demo / ")[1].split()[0]
    assert User.objects.get(username="demo").check_password(password)
    assert (tmp_path / "var" / "credentials.txt").read_text().count("\n") == 2


def test_bootstrap_against_real_did_gives_the_demo_avatar_a_voice_did_has(settings, tmp_path):
    """With DID_API_URL at D-ID itself the Piper voice can't speak for the demo avatar (D-ID has
    no 'local' voices), so bootstrap must not fail validation: it picks a Microsoft voice."""
    from avatars.models import Avatar

    settings.VAR_DIR = tmp_path / "var"
    settings.DID_API_URL = "https://api.d-id.com"
    call_command("bootstrap")
    avatar = Avatar.objects.get(slug="astronaut")
    avatar.full_clean()
    assert avatar.voice.provider == "microsoft" and avatar.voice.voice_id == "en-US-JennyNeural"
