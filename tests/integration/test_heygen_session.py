"""A HeyGen conversation through the real consumer, Redis and Celery worker: the LiveKit page path.
(The account's session cap is checked when a conversation starts: test_session_limit.py.)

HeyGen answers through MockTransport from tests/unit/providers/fixtures/heygen_streaming.json,
which cites HeyGen's doc page for each exchange.
"""

from __future__ import annotations

import json

import httpx
import pytest
from asgiref.sync import sync_to_async

from avatars.models import Avatar, Voice
from conversations.models import Conversation
from streaming.sentences import split_sentences
from tests.unit.providers.vendor_wire import load

from .conftest import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

KEY = "heygen-integration-key-0123456789"
HEYGEN = load("heygen_streaming.json")
EX = HEYGEN["exchanges"]


class FakeHeyGen:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit(".", 1)[-1]  # /v1/streaming.<name>
        self.calls.append((name, json.loads(request.content)))
        response = EX[name]["response"]
        return httpx.Response(response["status"], json=response["json"])

    def called(self, name: str) -> list[dict]:
        return [body for called, body in self.calls if called == name]


@pytest.fixture
def heygen(settings, fake_groq):
    from streaming.providers.registry import use_transport

    settings.HEYGEN_API_URL = "https://api.heygen.test"
    settings.HEYGEN_API_KEY = KEY
    settings.GROQ_BASE_URL = "https://api.groq.test"
    settings.GROQ_API_KEY = "groq-test-key"
    settings.PROVIDER_TIMEOUT = 2.0
    fake = FakeHeyGen()

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.groq.test":
            return await fake_groq.handler(request)
        return fake.handler(request)

    with use_transport(httpx.MockTransport(route)):
        yield fake


@pytest.fixture
def make_heygen_conversation(alice, persona):
    voice = Voice.objects.create(name="HeyGen voice", **HEYGEN["voice"])
    avatar = Avatar.objects.create(name="Wayne", slug="wayne", persona=persona, voice=voice,
                                   **HEYGEN["avatar"])

    def make() -> Conversation:
        return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)

    return make


async def test_the_page_joins_heygens_room_and_each_sentence_becomes_a_task(
    heygen, fake_groq, celery_worker, open_session, make_heygen_conversation, alice
):
    conversation = await make_heygen_conversation_async(make_heygen_conversation)
    session = await open_session(conversation, alice, expect_offer=False)
    assert (await session.expect("session.created"))["transport"] == "livekit"
    room = EX["new"]["response"]["json"]["data"]
    assert await session.expect("livekit.join") == {
        "type": "livekit.join", "url": room["url"], "token": room["access_token"]
    }
    assert KEY not in json.dumps(session.seen)
    [new] = heygen.called("new")
    assert new["activity_idle_timeout"] == 300 and new["version"] == "v2"

    await session.send(type="chat.text", text="How far is the moon?")
    await session.expect("reply.done")
    assert [t["text"] for t in heygen.called("task")] == split_sentences("".join(fake_groq.deltas))

    await session.send(type="session.end", reason="user")
    await session.expect("session.ended")
    await wait_for(lambda: heygen.called("stop"))
    assert heygen.called("stop") == [{"session_id": room["session_id"]}]


async def make_heygen_conversation_async(make) -> Conversation:
    return await sync_to_async(make)()

