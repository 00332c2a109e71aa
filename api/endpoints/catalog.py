"""What a caller can start a session with: the active avatars and the voices."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router

from avatars.models import Avatar, Voice

from ..schemas import AvatarOut, VoiceOut

router = Router(tags=["avatars and voices"])


def _avatars():
    return Avatar.objects.filter(is_active=True).select_related("persona")


def avatar_out(request: HttpRequest, avatar: Avatar) -> dict:
    image = avatar.image_url()
    return {
        "slug": avatar.slug,
        "name": avatar.name,
        "description": avatar.description,
        "provider": avatar.provider,
        "transport": "livekit" if avatar.provider == Avatar.Provider.HEYGEN else "webrtc",
        "image": request.build_absolute_uri(image) if image else "",
        "voice": avatar.voice_id,
        "persona": avatar.persona_id,
        "has_greeting": bool(avatar.persona and avatar.persona.greeting),
    }


@router.get("/avatars", response=list[AvatarOut], summary="List avatars")
def list_avatars(request: HttpRequest):
    return [avatar_out(request, avatar) for avatar in _avatars()]


@router.get("/avatars/{slug:slug}", response=AvatarOut, summary="Read an avatar")
def read_avatar(request: HttpRequest, slug: str):
    return avatar_out(request, get_object_or_404(_avatars(), slug=slug))


@router.get("/voices", response=list[VoiceOut], summary="List voices")
def list_voices(request: HttpRequest):
    return list(Voice.objects.all())


@router.get("/voices/{int:voice_id}", response=VoiceOut, summary="Read a voice")
def read_voice(request: HttpRequest, voice_id: int):
    return get_object_or_404(Voice, pk=voice_id)
