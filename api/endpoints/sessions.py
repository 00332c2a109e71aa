"""Live sessions for programs: start one for an avatar, then make the avatar speak or answer.

The routes that talk to the avatar are async: they wait on the provider and on the reply task,
and must not hold one of the server's threads meanwhile.
"""

from uuid import UUID

from django.conf import settings
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from avatars.models import Avatar
from conversations.models import Conversation
from conversations.services import SessionRefused, start_conversation
from streaming.replies import conversation_stream
from streaming.verbatim import Spoken, estimate_speaking_seconds

from .. import sessions
from ..errors import ApiError
from ..limits import UserRateThrottle, enforce, every_request
from ..schemas import Done, SessionIn, SessionOut, SpokenOut, TextIn

router = Router(tags=["sessions"])

requests_quota = every_request()
# The WebSocket's quota for typed messages, per user here.
messages_quota = UserRateThrottle("CHAT_MESSAGES_PER_MINUTE")


def session_out(request: HttpRequest, conversation: Conversation) -> dict:
    scheme = "wss" if request.is_secure() else "ws"
    return {
        "conversation": conversation.pk,
        "status": conversation.status,
        "avatar": conversation.avatar.slug,
        "websocket": f"{scheme}://{request.get_host()}{conversation.websocket_path}",
        # The provider's own ICE servers come with its offer, over the WebSocket.
        "ice_servers": list(settings.ICE_SERVERS),
        "idle_timeout": conversation.idle_timeout,
        "stream_ready": conversation.is_open and conversation_stream(conversation) is not None,
        "started_at": conversation.started_at,
        "ended_at": conversation.ended_at,
        "end_reason": conversation.end_reason,
    }


def spoken_out(spoken: Spoken) -> dict:
    return {
        "message_id": spoken.message_id, "text": spoken.text, "ai_response": None,
        "speaking_duration": spoken.duration, "duration_estimated": spoken.estimated,
        "interrupted": False,
    }


@router.post("", response={201: SessionOut}, summary="Start a session with an avatar")
def create_session(request: HttpRequest, payload: SessionIn):
    avatar = get_object_or_404(Avatar, slug=payload.avatar, is_active=True)
    try:
        conversation = start_conversation(request.user, avatar)
    except SessionRefused as exc:
        raise ApiError(exc.status, exc.refusal.code, exc.refusal.message) from None
    return Status(201, session_out(request, conversation))


@router.get("/{uuid:conversation_id}", response=SessionOut, summary="Read a session's state")
def read_session(request: HttpRequest, conversation_id: UUID):
    conversation = get_object_or_404(
        Conversation.objects.owned_by(request.user).select_related("avatar"), pk=conversation_id
    )
    return session_out(request, conversation)


@router.post("/{uuid:conversation_id}/text", response=SpokenOut, throttle=[],
             summary="Make the avatar say a text, or answer it")
async def send_text(request: HttpRequest, conversation_id: UUID, payload: TextIn):
    await enforce(request, requests_quota)
    await enforce(request, messages_quota)
    conversation = await sessions.own_conversation(request.user, conversation_id, open_only=True)
    if not payload.generate_ai_response:
        return spoken_out(await sessions.say(conversation, payload.text))
    reply = await sessions.ask(conversation, payload.text)
    return {
        "message_id": reply.pk, "text": reply.text, "ai_response": reply.text,
        # The reply task does not collect the provider's per-sentence durations.
        "speaking_duration": estimate_speaking_seconds(reply.text), "duration_estimated": True,
        "interrupted": reply.interrupted,
    }


@router.post("/{uuid:conversation_id}/greeting", response=SpokenOut, throttle=[],
             summary="Make the avatar say its persona's welcome line")
async def greet(request: HttpRequest, conversation_id: UUID):
    await enforce(request, requests_quota)
    conversation = await sessions.own_conversation(request.user, conversation_id, open_only=True)
    persona = conversation.avatar.persona
    if persona is None or not persona.greeting.strip():
        raise ApiError(409, "no_greeting", "This avatar's persona has no welcome line.")
    return spoken_out(await sessions.say(conversation, persona.greeting))


@router.post("/{uuid:conversation_id}/interrupt", response=Done, throttle=[],
             summary="Stop the avatar mid-sentence")
async def interrupt(request: HttpRequest, conversation_id: UUID):
    await enforce(request, requests_quota)
    conversation = await sessions.own_conversation(request.user, conversation_id, open_only=True)
    await sessions.interrupt(conversation)
    return {"ok": True}


@router.post("/{uuid:conversation_id}/stop", response=Done, throttle=[],
             summary="End the session and close the avatar stream")
async def stop(request: HttpRequest, conversation_id: UUID):
    await enforce(request, requests_quota)
    conversation = await sessions.own_conversation(request.user, conversation_id)
    ended = await sessions.stop(conversation)
    return {"ok": True, "detail": "ended" if ended else "already ended"}
