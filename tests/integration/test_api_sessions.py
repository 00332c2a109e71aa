"""API sessions with a live avatar stream: the real consumer opens the stream (vendors faked at
the wire), the API makes the avatar speak, answer, stop; and the example client runs end to end."""

from __future__ import annotations

import importlib.util
import json
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import AsyncClient

from conversations.models import Conversation, Message

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "api_client.py"


@pytest.fixture(autouse=True)
def _private_cache(settings):
    settings.DISCONNECT_GRACE_SECONDS = 0  # a closed test socket ends its session at once
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "api-sessions"}}


@pytest.fixture
def token(alice):
    from api.models import ApiToken

    return ApiToken.issue(alice, "test")[1]


class Api:
    """Django's AsyncClient sending the token on every request (its constructor's `headers`
    do not reach ASGI requests)."""

    def __init__(self, token: str) -> None:
        self.client = AsyncClient()
        self.headers = {"Authorization": f"Bearer {token}"}

    async def get(self, path: str):
        return await self.client.get(path, headers=self.headers)

    async def post(self, path: str, **kwargs):
        return await self.client.post(path, headers=self.headers, **kwargs)


@pytest.fixture
def api(token):
    return Api(token)


async def post(api, path: str, body: dict | None = None):
    return await api.post(f"/api/v1/{path}", data=json.dumps(body or {}),
                          content_type="application/json")


@pytest.fixture
def started(api, open_session, alice, avatar):
    """A session started through the API, with the browser's socket attached and the stream open."""

    async def start():
        created = await post(api, "sessions", {"avatar": avatar.slug})
        assert created.status_code == 201
        conversation = await Conversation.objects.aget(pk=created.json()["conversation"])
        session = await open_session(conversation, alice)
        await conversation.arefresh_from_db()
        return conversation, session

    return start


async def test_the_avatar_says_a_line_verbatim_and_the_page_shows_it(api, started, fake_did,
                                                                     vendors):
    conversation, session = await started()
    state = await api.get(f"/api/v1/sessions/{conversation.pk}")
    assert state.json()["stream_ready"] is True and state.json()["status"] == "live"

    line = "Good morning! Today we talk about compilers, and why they matter."
    response = await post(api, f"sessions/{conversation.pk}/text",
                          {"text": line, "generate_ai_response": False})
    assert response.status_code == 200, response.content
    body = response.json()
    assert fake_did.spoken() == ["Good morning!", "Today we talk about compilers, and why they matter."]
    saved = await Message.objects.aget(pk=body["message_id"])
    assert (saved.role, saved.source, saved.text) == ("assistant", "text", line)
    assert body == {"message_id": saved.pk, "text": line, "ai_response": None,
                    "speaking_duration": 4.4, "duration_estimated": True, "interrupted": False}
    started_msg = await session.expect("reply.started")
    done = await session.expect("reply.done")
    assert started_msg["message_id"] == done["message_id"] == saved.pk and done["text"] == line
    await session.close()


async def test_the_ai_answers_and_the_answer_is_spoken_and_returned(
    api, started, fake_did, fake_groq, vendors, celery_worker
):
    conversation, session = await started()
    response = await post(api, f"sessions/{conversation.pk}/text",
                          {"text": "How far away is the moon?", "generate_ai_response": True})
    assert response.status_code == 200, response.content
    body = response.json()
    answer = "".join(fake_groq.deltas).strip()
    assert body["ai_response"] == body["text"] == answer and body["duration_estimated"] is True
    assert body["speaking_duration"] == round(len(answer.split()) / 2.5, 2)
    question = await Message.objects.aget(conversation=conversation, role="user")
    assert question.text == "How far away is the moon?" and question.source == "text"
    reply = await Message.objects.aget(pk=body["message_id"])
    assert reply.reply_to_id == question.pk and reply.text == answer
    assert " ".join(fake_did.spoken()) == answer
    shown = await session.expect("transcript.final")
    assert shown["text"] == "How far away is the moon?"
    await session.close()


async def test_the_greeting_is_the_personas_welcome_line(api, started, fake_did, vendors, persona):
    persona.greeting = "Hello, I am Ada. Ask me anything about engines!"
    await persona.asave()
    conversation, session = await started()
    response = await post(api, f"sessions/{conversation.pk}/greeting")
    assert response.status_code == 200, response.content
    assert fake_did.spoken() == ["Hello, I am Ada.", "Ask me anything about engines!"]
    assert response.json()["text"] == persona.greeting
    await session.close()


async def test_interrupt_stops_the_avatar_and_tells_the_page(api, started, fake_did, vendors):
    from streaming import cancellation

    conversation, session = await started()
    question = await Message.objects.acreate(conversation=conversation, role="user",
                                             source="text", text="Tell me a long story")
    response = await post(api, f"sessions/{conversation.pk}/interrupt")
    assert response.json() == {"ok": True, "detail": ""}
    assert fake_did.calls("POST", "/interrupt") == [{"session_id": conversation.provider_session_id}]
    assert await cancellation.is_cancelled(conversation.pk, reply_to=question.pk)
    await session.expect("avatar.interrupt")
    await session.close()


async def test_stop_ends_the_session_and_closes_the_stream_exactly_once(api, started, fake_did,
                                                                       vendors):
    conversation, session = await started()
    response = await post(api, f"sessions/{conversation.pk}/stop")
    assert response.json() == {"ok": True, "detail": "ended"}
    ended = await session.expect("session.ended")
    assert ended["reason"] == "user"
    await conversation.arefresh_from_db()
    assert (conversation.status, conversation.end_reason) == ("ended", "user")
    assert conversation.stream_closed_at is not None
    await session.close()
    assert len(fake_did.calls("DELETE")) == 1
    again = await post(api, f"sessions/{conversation.pk}/text", {"text": "Are you there?"})
    assert again.status_code == 409 and again.json()["error"]["code"] == "session_ended"


async def test_a_program_attaches_to_the_websocket_with_its_token(token, alice, bob, avatar,
                                                                  vendors):
    from api.models import ApiToken
    from config.asgi import application

    conversation = await Conversation.objects.acreate(user=alice, avatar=avatar)
    good = WebsocketCommunicator(application, conversation.websocket_path, headers=[
        (b"authorization", f"Bearer {token}".encode()), (b"origin", b"http://testserver"),
    ])
    connected, _ = await good.connect(timeout=10)
    assert connected
    assert json.loads(await good.receive_from(timeout=10))["type"] == "session.created"
    await good.disconnect()

    bad = WebsocketCommunicator(application, conversation.websocket_path, headers=[
        (b"authorization", b"Bearer lp_wrong"), (b"origin", b"http://testserver"),
    ])
    connected, code = await bad.connect(timeout=10)
    assert (connected, code) == (False, 4401)

    _, bobs_token = await sync_to_async(ApiToken.issue)(bob, "bob")
    not_his = WebsocketCommunicator(application, conversation.websocket_path, headers=[
        (b"authorization", f"Bearer {bobs_token}".encode()), (b"origin", b"http://testserver"),
    ])
    connected, code = await not_his.connect(timeout=10)
    assert (connected, code) == (False, 4404)


def _load_example():
    spec = importlib.util.spec_from_file_location("api_client_example", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_the_example_client_makes_the_avatar_say_a_line(token, alice, avatar, fake_did,
                                                              vendors):
    """examples/api_client.py against the whole ASGI application: HTTP through httpx, the
    WebSocket through Channels' communicator (the same headers the example's client sends)."""
    from config.asgi import application

    example = _load_example()

    @asynccontextmanager
    async def attach(url: str):
        path = httpx.URL(url).path
        socket = WebsocketCommunicator(application, path, headers=[
            (b"authorization", f"Bearer {token}".encode()), (b"origin", b"http://testserver"),
        ])
        connected, _ = await socket.connect(timeout=10)
        assert connected

        class Socket:
            async def recv(self) -> str:
                return await socket.receive_from(timeout=20)

        try:
            yield Socket()
        finally:
            await socket.disconnect()

    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver/api/v1/",
                                 headers={"Authorization": f"Bearer {token}"}) as api:
        spoken = await example.say_line(api, avatar.slug, "Hello from a program!", attach=attach)

    assert spoken["text"] == "Hello from a program!"
    saved = await Message.objects.aget(pk=spoken["message_id"])
    assert saved.text == "Hello from a program!"
    assert fake_did.spoken() == ["Hello from a program!"]
    conversation = await Conversation.objects.aget(user=alice)
    assert (conversation.status, conversation.end_reason) == ("ended", "user")
    await wait_for(lambda: len(fake_did.calls("DELETE")) == 1)
