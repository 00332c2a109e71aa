"""Which voice may speak for which avatar: the provider must be able to use it, and it must
speak the avatar's language. Used by Avatar.clean (so the admin and the API both refuse)."""

from __future__ import annotations

from django.conf import settings

from .languages import same_language

# Voice providers each avatar provider can use. D-ID speaks through its integrated TTS
# providers (https://docs.d-id.com/reference/tts-microsoft, .../tts-elevenlabs); HeyGen and
# LiveAvatar only through voice ids of their own.
DID_AVATARS = ("did_talks", "did_clips", "did_agents")
ACCEPTS = {
    "did": ("microsoft", "elevenlabs"),
    "heygen": ("heygen",),
    "liveavatar": ("liveavatar",),
}


def did_is_local_engine() -> bool:
    """Whether D-ID's URL is our own engine, which speaks with its Piper voices."""
    # Function-level: avatars.models loads before the provider clients (and their httpx) need to.
    from streaming.providers.registry import is_local_engine

    return is_local_engine(settings.DID_API_URL)


def voice_problem(voice, avatar, *, did_local: bool | None = None) -> str | None:
    """Why `voice` can't speak for `avatar`, in words for the admin; None when it can."""
    if voice is None:
        return None
    family = "did" if avatar.provider in DID_AVATARS else avatar.provider
    accepted = ACCEPTS.get(family, ())
    avatar_name = avatar.get_provider_display()
    voice_name = voice.get_provider_display()
    if voice.provider == "local" and family == "did":
        if did_local is None:
            did_local = did_is_local_engine()
        if not did_local:
            return (
                f"{voice} is a local engine (Piper) voice, but DID_API_URL points at D-ID itself, "
                "which has no 'local' voices. Pick a Microsoft or ElevenLabs voice, or point "
                "DID_API_URL at the local engine."
            )
    elif voice.provider not in accepted:
        choices = " or ".join(v.title() for v in accepted) or "no"
        return (
            f"A {avatar_name} avatar can't speak with a {voice_name} voice: it takes "
            f"{choices} voices."
        )
    language = getattr(avatar, "language", "")
    if voice.language and language and not same_language(voice.language, language):
        return (
            f"{voice} speaks {voice.language}, but this avatar's language is {language}. "
            "Pick a voice in the avatar's language."
        )
    return None
