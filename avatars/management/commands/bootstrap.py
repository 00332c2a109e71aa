"""Idempotent first-run setup: demo and staff users, a persona, local voices and a demo avatar."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand

from avatars.demo import DEMO_AVATAR, DEMO_PERSONA, DEMO_SIZE, astronaut_png
from avatars.models import Avatar, Persona, Voice
from avatars.voices import did_is_local_engine

LOCAL_VOICES = [
    # (name, voice_id, language): the Piper voices the local engine ships with.
    ("Joe (US English)", "en_US-joe-medium", "en-US"),
]
# The demo avatar's voice when DID_API_URL is D-ID itself, which has no Piper voices: one of
# D-ID's Microsoft voices (https://docs.d-id.com/reference/tts-microsoft).
DID_DEMO_VOICE = ("Jenny (US English)", "en-US-JennyNeural", "en-US")


def credentials_file() -> Path:
    return Path(settings.VAR_DIR) / "credentials.txt"


class Command(BaseCommand):
    help = "Create the demo user, a staff user, a persona, local voices and a demo avatar."

    def handle(self, *args, **options) -> None:
        created = [self.ensure_user("demo", staff=False), self.ensure_user("admin", staff=True)]
        new_credentials = [c for c in created if c]
        if new_credentials:
            path = credentials_file()
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a") as fh:
                for username, password in new_credentials:
                    fh.write(f"{username} {password}\n")
            path.chmod(0o600)
            for username, password in new_credentials:
                self.stdout.write(self.style.SUCCESS(f"Created user {username} / {password}"))

        voices = [
            Voice.objects.get_or_create(
                provider=Voice.Provider.LOCAL,
                voice_id=voice_id,
                defaults={"name": name, "language": language},
            )[0]
            for name, voice_id, language in LOCAL_VOICES
        ]
        persona, _ = Persona.objects.get_or_create(
            name=DEMO_PERSONA["name"],
            defaults={k: v for k, v in DEMO_PERSONA.items() if k != "name"},
        )
        if not Avatar.objects.filter(slug=DEMO_AVATAR).exists():
            voice = voices[0] if did_is_local_engine() else self.did_voice()
            avatar = Avatar(
                name="Eileen the Astronaut",
                slug=DEMO_AVATAR,
                description="A talking photo, rendered offline by the local engine.",
                provider=Avatar.Provider.DID_TALKS,
                voice=voice,
                persona=persona,
                output_resolution=DEMO_SIZE,
            )
            avatar.source_image.save("astronaut.png", ContentFile(astronaut_png()), save=False)
            avatar.full_clean()
            avatar.save()
            self.stdout.write(self.style.SUCCESS(f"Created the demo avatar '{DEMO_AVATAR}'."))
        self.stdout.write("Bootstrap complete.")

    @staticmethod
    def did_voice() -> Voice:
        name, voice_id, language = DID_DEMO_VOICE
        return Voice.objects.get_or_create(
            provider=Voice.Provider.MICROSOFT, voice_id=voice_id,
            defaults={"name": name, "language": language},
        )[0]

    def ensure_user(self, username: str, *, staff: bool) -> tuple[str, str] | None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            return None
        password = secrets.token_urlsafe(9)
        User.objects.create_user(
            username=username, password=password, is_staff=staff, is_superuser=staff
        )
        return username, password
