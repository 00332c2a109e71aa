"""Idempotent first-run setup: demo and staff users, a persona, local voices and a demo avatar."""

from __future__ import annotations

import io
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand

from avatars.models import Avatar, Persona, Voice

LOCAL_VOICES = [
    # (name, voice_id, language): the Piper voices the local engine ships with.
    ("Joe (US English)", "en_US-joe-medium", "en-US"),
]


def credentials_file() -> Path:
    return Path(settings.VAR_DIR) / "credentials.txt"


def astronaut_png() -> bytes:
    """NASA's portrait of Eileen Collins, public domain, shipped inside scikit-image."""
    from PIL import Image
    from skimage import data

    buffer = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buffer, format="PNG")
    return buffer.getvalue()


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
            name="Eileen",
            defaults={
                "title": "retired astronaut and friendly science guide",
                "education_degree": "M.S. in Operations Research",
                "education_institution": "Stanford University",
                "interests": ["space flight", "aviation", "teaching science"],
                "goals": ["make space exploration easy to understand"],
                "style": "warm, curious and concise",
                "traits": ["patient", "encouraging", "precise"],
                "instructions": "If you do not know something, say so briefly.",
            },
        )
        if not Avatar.objects.filter(slug="astronaut").exists():
            avatar = Avatar(
                name="Eileen the Astronaut",
                slug="astronaut",
                description="A talking photo, rendered offline by the local engine.",
                provider=Avatar.Provider.DID_TALKS,
                voice=voices[0],
                persona=persona,
                output_resolution=512,
            )
            avatar.source_image.save("astronaut.png", ContentFile(astronaut_png()), save=False)
            avatar.full_clean()
            avatar.save()
            self.stdout.write(self.style.SUCCESS("Created the demo avatar 'astronaut'."))
        self.stdout.write("Bootstrap complete.")

    def ensure_user(self, username: str, *, staff: bool) -> tuple[str, str] | None:
        User = get_user_model()
        if User.objects.filter(username=username).exists():
            return None
        password = secrets.token_urlsafe(9)
        User.objects.create_user(
            username=username, password=password, is_staff=staff, is_superuser=staff
        )
        return username, password
