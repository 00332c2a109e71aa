"""The avatar picker and the live page. Thin: the live work happens over the WebSocket."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from avatars.models import Avatar
from conversations.services import SessionLimitReached, start_conversation


@login_required
def avatar_list(request: HttpRequest) -> HttpResponse:
    avatars = Avatar.objects.filter(is_active=True).select_related("voice", "persona")
    return render(request, "frontend/avatar_list.html", {"avatars": avatars})


@login_required
def talk(request: HttpRequest, slug: str) -> HttpResponse:
    avatar = get_object_or_404(Avatar, slug=slug, is_active=True)
    return render(
        request,
        "frontend/talk.html",
        {
            "avatar": avatar,
            "client_config": {
                "startUrl": request.build_absolute_uri(f"/talk/{avatar.slug}/sessions/"),
                "avatar": {"name": avatar.name, "slug": avatar.slug, "image": avatar.image_url()},
                "transport": "livekit" if avatar.provider == Avatar.Provider.HEYGEN else "webrtc",
                "maxTextChars": 2000,
                "historyUrl": "/conversations/",
            },
        },
    )


@login_required
@require_POST
def start_session(request: HttpRequest, slug: str) -> JsonResponse:
    """Create the Conversation the live page's WebSocket then attaches to."""
    avatar = get_object_or_404(Avatar, slug=slug, is_active=True)
    try:
        conversation = start_conversation(request.user, avatar)
    except SessionLimitReached as exc:
        return JsonResponse({"error": "session_limit", "message": str(exc)}, status=429)
    return JsonResponse(
        {
            "conversation": str(conversation.pk),
            "websocket": f"/ws/sessions/{conversation.pk}/",
            "historyUrl": conversation.get_absolute_url(),
            "idleTimeout": conversation.idle_timeout,
            "maxLiveSessions": settings.MAX_LIVE_SESSIONS_PER_USER,
        },
        status=201,
    )


