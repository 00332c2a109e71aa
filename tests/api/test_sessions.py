"""Session routes without a live avatar stream: creating, reading, refusing bad input, stopping.
(With a stream, through the real consumer and fake vendors: tests/integration/test_api_sessions.py.)"""

from __future__ import annotations

import json

import pytest

from .conftest import error_of

pytestmark = pytest.mark.django_db


def post(client, path, body=None):
    return client.post(path, data=json.dumps(body) if body is not None else "",
                       content_type="application/json")


def test_creating_a_session_gives_the_conversation_websocket_and_ice_servers(
    api_as, alice, avatar, settings
):
    from conversations.models import Conversation

    settings.ICE_SERVERS = [{"urls": ["stun:stun.example.org:3478"]}]
    response = post(api_as(alice), "/api/v1/sessions", {"avatar": "ada"})
    assert response.status_code == 201
    body = response.json()
    conversation = Conversation.objects.get(pk=body["conversation"])
    assert conversation.user == alice and conversation.status == "connecting"
    assert body["websocket"] == f"ws://testserver/ws/sessions/{conversation.pk}/"
    assert body["ice_servers"] == settings.ICE_SERVERS
    assert (body["avatar"], body["status"], body["stream_ready"]) == ("ada", "connecting", False)
    assert body["idle_timeout"] == conversation.idle_timeout
    assert api_as(alice).get(f"/api/v1/sessions/{conversation.pk}").json() == body


def test_the_live_session_limit_applies(api_as, alice, avatar, settings):
    settings.MAX_LIVE_SESSIONS_PER_USER = 1
    client = api_as(alice)
    assert post(client, "/api/v1/sessions", {"avatar": "ada"}).status_code == 201
    assert error_of(post(client, "/api/v1/sessions", {"avatar": "ada"})) == (429, "session_limit")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"avatar": 5}, 422, "invalid_input"),
        ({}, 422, "invalid_input"),
        ({"avatar": "ada", "voice": "x"}, 422, "invalid_input"),
        ({"avatar": "a" * 51}, 422, "too_large"),
        ({"avatar": "nobody"}, 404, "not_found"),
    ],
)
def test_bad_session_requests_are_refused(api_as, alice, avatar, body, status, code):
    from conversations.models import Conversation

    assert error_of(post(api_as(alice), "/api/v1/sessions", body)) == (status, code)
    assert not Conversation.objects.exists()


@pytest.fixture
def live(alice, make_conversation):
    return make_conversation(alice, "Hello", status="live")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"text": 5}, "invalid_input"),
        ({"text": ["hi"]}, "invalid_input"),
        ({"text": ""}, "invalid_input"),
        ({"text": "   "}, "invalid_input"),
        ({"text": "hi", "generate_ai_response": "yes"}, "invalid_input"),
        ({"text": "hi", "generate_ai_response": 1}, "invalid_input"),
        ({"text": "hi", "speed": 2}, "invalid_input"),
        ({"text": "x" * 2001}, "too_large"),
    ],
)
def test_bad_text_is_refused_and_nothing_is_saved(api_as, alice, live, body, code):
    response = post(api_as(alice), f"/api/v1/sessions/{live.pk}/text", body)
    assert error_of(response) == (422, code)
    assert live.messages.count() == 1


@pytest.mark.parametrize("ai", [True, False])
def test_text_before_the_stream_is_open_says_so(api_as, alice, live, ai):
    response = post(api_as(alice), f"/api/v1/sessions/{live.pk}/text",
                    {"text": "Hello there, avatar!", "generate_ai_response": ai})
    assert error_of(response) == (409, "stream_not_ready")
    assert live.messages.count() == 1


def test_an_ended_session_refuses_text_greeting_and_interrupt(api_as, alice, make_conversation):
    ended = make_conversation(alice, "Hello", status="ended")
    client = api_as(alice)
    for suffix, body in (("text", {"text": "Hello there"}), ("greeting", None),
                         ("interrupt", None)):
        response = post(client, f"/api/v1/sessions/{ended.pk}/{suffix}", body)
        assert error_of(response) == (409, "session_ended"), suffix


def test_a_greeting_needs_a_welcome_line(api_as, alice, live):
    assert error_of(post(api_as(alice), f"/api/v1/sessions/{live.pk}/greeting")) == (
        409, "no_greeting"
    )


def test_a_greeting_before_the_stream_is_open_says_so(api_as, alice, live, persona):
    persona.greeting = "Welcome, I am Ada."
    persona.save()
    assert error_of(post(api_as(alice), f"/api/v1/sessions/{live.pk}/greeting")) == (
        409, "stream_not_ready"
    )


def test_stop_ends_the_session_once(api_as, alice, live):
    client = api_as(alice)
    first = post(client, f"/api/v1/sessions/{live.pk}/stop")
    assert first.json() == {"ok": True, "detail": "ended"}
    live.refresh_from_db()
    assert (live.status, live.end_reason) == ("ended", "user")
    again = post(client, f"/api/v1/sessions/{live.pk}/stop")
    assert again.json() == {"ok": True, "detail": "already ended"}


@pytest.mark.parametrize("suffix", ["", "/text", "/greeting", "/interrupt", "/stop"])
@pytest.mark.parametrize("conversation_id", ["00000000-0000-0000-0000-000000000000", "nope"])
def test_unknown_sessions_are_404(api_as, alice, suffix, conversation_id):
    client = api_as(alice)
    path = f"/api/v1/sessions/{conversation_id}{suffix}"
    response = client.get(path) if not suffix else post(client, path, {"text": "Hello there"})
    assert error_of(response) == (404, "not_found")


def test_a_non_english_avatar_on_the_local_engine_is_refused_at_start(api_as, alice, avatar):
    avatar.language = "ja-JP"
    avatar.save()
    response = post(api_as(alice), "/api/v1/sessions", {"avatar": "ada"})
    assert error_of(response) == (422, "language_unsupported")
    assert "Japanese (ja-JP)" in response.json()["error"]["message"]
    assert not avatar.conversations.exists()
