"""The avatar picker and the live page. Thin: the live work happens over the WebSocket."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from avatars.idle_video import idle_video_url
from avatars.models import Avatar
from conversations.services import SessionRefused, start_conversation
from streaming.protocol import MAX_CHAT_CHARS


@login_required
def avatar_list(request: HttpRequest) -> HttpResponse:
    avatars = Avatar.objects.filter(is_active=True).select_related("voice", "persona")
    return render(request, "frontend/avatar_list.html", {"avatars": avatars})


@login_required
def talk(request: HttpRequest, slug: str) -> HttpResponse:
    avatar = get_object_or_404(
        Avatar.objects.select_related("managed_agent"), slug=slug, is_active=True
    )
    return render(
        request,
        "frontend/talk.html",
        {
            "avatar": avatar,
            "starters": avatar.starter_messages(),
            "client_config": {
                "startUrl": request.build_absolute_uri(
                    reverse("frontend:start-session", args=[avatar.slug])
                ),
                "avatar": {"name": avatar.name, "slug": avatar.slug, "image": avatar.image_url()},
                # A URL the page plays as it is (ours, or a vendor's public one): never a key.
                "idleVideo": idle_video_url(avatar) or None,
                "transport": avatar.transport,
                "maxTextChars": MAX_CHAT_CHARS,
                "historyUrl": reverse("conversations:list"),
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
    except SessionRefused as exc:
        refusal = exc.refusal
        response = JsonResponse(
            {"error": refusal.code, "message": refusal.message, "retry_after": refusal.retry_after},
            status=exc.status,
        )
        if refusal.retry_after:
            response["Retry-After"] = str(refusal.retry_after)
        return response
    return JsonResponse(
        {
            "conversation": str(conversation.pk),
            "websocket": conversation.websocket_path,
            "historyUrl": conversation.get_absolute_url(),
            "idleTimeout": conversation.idle_timeout,
            "maxLiveSessions": settings.MAX_LIVE_SESSIONS_PER_USER,
        },
        status=201,
    )


