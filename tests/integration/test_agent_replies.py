"""Agent avatars answer through the D-ID agent's own chat (its LLM and knowledge), on our stream;
the turn is saved and timed like any other. Real consumer, Redis and Celery worker; D-ID faked at
the wire as https://docs.d-id.com/reference/agents-streams-overview describes it."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import httpx
import pytest
from channels.layers import get_channel_layer

from agents.models import AgentChat
from avatars.models import Avatar
from conversations.models import Conversation, Message
from streaming import cancellation, events, stream_lifetimes
from streaming.agent_replies import generate_through_agent
from streaming.providers.registry import avatar_provider_for, use_transport

from .conftest import wait_for
from .fakes import ANSWER_SDP, ICE_SERVERS, OFFER_SDP

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

ANSWER = "The moon base is called Selene-7."


@dataclass
class FakeAgentChat:
    """An agent's streams and chat: create stream, SDP/ICE, create chat, send message, delete."""

    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    chat_mode: str = "Functional"
    lock: threading.Lock = field(default_factory=threading.Lock)
    chats: int = 0

    def calls(self, method: str, path: str) -> list[dict]:
        with self.lock:
            return [b for m, p, b in self.requests if m == method and p == path]

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        path, method = request.url.path, request.method
        with self.lock:
            self.requests.append((method, path, body))
        parts = path.strip("/").split("/")
        if parts[0] != "agents" or len(parts) < 3:
            return httpx.Response(404, json={"kind": "NotFoundError", "description": path})
        if method == "POST" and parts[2] == "streams" and len(parts) == 3:
            return httpx.Response(201, json={
                "id": f"strm_agent_{len(self.requests)}", "session_id": "sess_1",
                "offer": {"type": "offer", "sdp": OFFER_SDP}, "ice_servers": ICE_SERVERS,
            })
        if method == "POST" and parts[2] == "chat" and len(parts) == 3:
            with self.lock:
                self.chats += 1
                return httpx.Response(201, json={"id": f"cht_{self.chats}"})
        if method == "POST" and parts[2] == "chat":
            return httpx.Response(200, json={"result": ANSWER, "chatMode": self.chat_mode,
                                             "matches": [], "documentIds": []})
        return httpx.Response(200, json={"status": "success"})


@pytest.fixture
def agent_did(settings):
    settings.DID_API_URL = "https://api.d-id.test"
    settings.DID_API_KEY = "did-test-key"
    settings.GROQ_BASE_URL = "https://api.groq.test"
    settings.GROQ_API_KEY = "groq-test-key"
    settings.PROVIDER_TIMEOUT = 2.0
    fake = FakeAgentChat()
    groq_calls: list[bytes] = []

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.groq.test":
            groq_calls.append(request.content)
            return httpx.Response(500, json={"error": "our LLM must not be asked"})
        return await fake.handler(request)

    fake.groq_calls = groq_calls
    with use_transport(httpx.MockTransport(route)):
        yield fake


@pytest.fixture
def agent_avatar(persona):
    return Avatar.objects.create(name="Nova", slug="nova", provider="did_agents",
                                 agent_id="agt_test", persona=persona, stream_warmup=False)


@pytest.fixture
def conversation(alice, agent_avatar):
    return Conversation.objects.create(user=alice, avatar=agent_avatar,
                                       provider=agent_avatar.provider)


async def test_an_agent_answers_through_its_chat_on_our_stream_and_the_turn_is_saved(
    agent_did, celery_worker, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    await session.send(type="chat.text", text="What is the moon base called?")
    started = await session.expect("reply.started")
    done = await session.expect("reply.done")
    assert done["text"] == ANSWER and not done["interrupted"] and done["sentences"] == 1
    assert [m["text"] for m in session.seen if m["type"] == "reply.delta"] == [ANSWER]

    await conversation.arefresh_from_db()
    [chat_message] = agent_did.calls("POST", "/agents/agt_test/chat/cht_1")
    assert chat_message["streamId"] == conversation.provider_stream_id
    assert chat_message["sessionId"] == conversation.provider_session_id
    assert chat_message["messages"][0]["content"] == "What is the moon base called?"
    assert agent_did.groq_calls == []  # the agent's LLM answered, not ours

    reply = await Message.objects.aget(pk=started["message_id"])
    assert reply.text == ANSWER and reply.role == "assistant"
    assert reply.task_started_at <= reply.first_sentence_sent_at <= reply.first_token_at
    assert reply.completed_at and done["timings"]["first_token_ms"] is not None

    await session.send(type="chat.text", text="And who runs it?")
    await session.expect("transcript.final")
    await session.expect("reply.done")
    assert len(agent_did.calls("POST", "/agents/agt_test/chat")) == 1  # one chat per conversation
    assert len(agent_did.calls("POST", "/agents/agt_test/chat/cht_1")) == 2
    await session.close()


async def test_an_agents_avatar_set_to_our_persona_asks_our_llm_not_the_agents_chat(
    agent_did, celery_worker, open_session, conversation, alice, agent_avatar
):
    await Avatar.objects.filter(pk=agent_avatar.pk).aupdate(reply_mode="persona")
    session = await open_session(conversation, alice)
    await session.send(type="chat.text", text="Hello?")
    await session.expect("reply.done")
    assert agent_did.groq_calls  # our LLM was asked
    assert agent_did.calls("POST", "/agents/agt_test/chat") == []
    await session.close()


async def test_the_chat_survives_a_new_stream_so_the_agent_remembers(agent_did, conversation):
    provider = avatar_provider_for(conversation.avatar)
    async with provider:
        for stream_id in ("strm_first", "strm_after_reconnect"):
            await Conversation.objects.filter(pk=conversation.pk).aupdate(
                provider_stream_id=stream_id, provider_session_id="sess",
                provider_state={"id": stream_id, "session_id": "sess", "offer": None,
                                "ice_servers": [], "provider": "did_agents",
                                "extra": {"agent_id": "agt_test"}},
            )
            question = await Message.objects.acreate(conversation=conversation, role="user",
                                                     source="text", text="Still there?")
            await generate_through_agent(str(conversation.pk), question.pk,
                                         avatar_provider=provider)
    sent = agent_did.calls("POST", "/agents/agt_test/chat/cht_1")
    assert [m["streamId"] for m in sent] == ["strm_first", "strm_after_reconnect"]
    assert agent_did.chats == 1
    assert (await AgentChat.objects.aget(conversation=conversation)).chat_id == "cht_1"


async def test_a_question_cut_off_before_it_was_sent_never_reaches_the_agent(
    agent_did, conversation
):
    question = await Message.objects.acreate(conversation=conversation, role="user",
                                             source="text", text="Tell me everything")
    await cancellation.cancel(conversation.pk, reply_to=question.pk)
    async with avatar_provider_for(conversation.avatar) as provider:
        result = await generate_through_agent(str(conversation.pk), question.pk,
                                              avatar_provider=provider)
    assert result.interrupted and result.text == ""
    assert agent_did.requests == []
    reply = await Message.objects.aget(pk=result.message_id)
    assert reply.interrupted and reply.completed_at


async def test_text_only_answers_are_shown_and_the_user_told_why_nothing_was_spoken(
    agent_did, conversation
):
    agent_did.chat_mode = "TextOnly"
    layer = get_channel_layer()
    listener = await layer.new_channel()
    await layer.group_add(events.group_name(conversation.pk), listener)
    question = await Message.objects.acreate(conversation=conversation, role="user",
                                             source="text", text="Hi")
    async with avatar_provider_for(conversation.avatar) as provider:
        result = await generate_through_agent(str(conversation.pk), question.pk,
                                              avatar_provider=provider)
    assert result.text == ANSWER and result.sentences == []
    assert (await Message.objects.aget(pk=result.message_id)).text == ANSWER
    seen = [(await layer.receive(listener))["message"] for _ in range(4)]
    assert [m["type"] for m in seen] == ["reply.started", "reply.delta", "error", "reply.done"]
    assert seen[2]["code"] == "avatar_quota" and seen[3]["sentences"] == 0


async def test_an_agent_not_synced_yet_is_reported_not_crashed(agent_did, conversation):
    await Avatar.objects.filter(pk=conversation.avatar_id).aupdate(agent_id="")
    question = await Message.objects.acreate(conversation=conversation, role="user",
                                             source="text", text="Hi")
    async with avatar_provider_for(conversation.avatar) as provider:
        result = await generate_through_agent(str(conversation.pk), question.pk,
                                              avatar_provider=provider)
    assert result.error == "avatar_not_configured"
    assert agent_did.requests == []


async def test_a_conversation_outlives_its_agents_stream_on_a_new_one_with_the_same_chat(
    agent_did, celery_worker, open_session, conversation, alice, settings, monkeypatch
):
    """D-ID drops an agents stream after 2 quiet minutes and has no keep-alive: shortly before
    that, the socket opens a new stream and offers it to the page, and the old one is closed
    exactly once. Here the limit is 2 s (so the stream is replaced after 1 quiet second)."""
    settings.DISCONNECT_GRACE_SECONDS = 0
    short = stream_lifetimes.StreamLifetime(2, 2, configurable=False, keep_alive=False,
                                            renew_before_end=True)
    monkeypatch.setitem(stream_lifetimes.LIFETIMES, "did_agents", short)
    session = await open_session(conversation, alice)
    await conversation.arefresh_from_db()
    first = conversation.provider_stream_id
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await session.send(type="chat.text", text="What is the moon base called?")
    assert (await session.expect("reply.done"))["text"] == ANSWER

    await session.expect("rtc.offer", within=10)  # the replacement, after a quiet second
    # From here on the stream lasts: the test sees one replacement, not a series of them.
    monkeypatch.setitem(stream_lifetimes.LIFETIMES, "did_agents", stream_lifetimes.StreamLifetime(
        120, 120, configurable=False, keep_alive=False, renew_before_end=True))
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await conversation.arefresh_from_db()
    second = conversation.provider_stream_id
    assert second and second != first
    assert conversation.status == Conversation.Status.LIVE and conversation.stream_closed_at is None
    await wait_for(lambda: agent_did.calls("POST", f"/agents/agt_test/streams/{second}/sdp"))
    assert len(agent_did.calls("DELETE", f"/agents/agt_test/streams/{first}")) == 1

    # The same conversation goes on, on the new stream, in the same chat (the agent remembers).
    await session.send(type="chat.text", text="And who runs it?")
    done = await session.expect("reply.done")
    assert not done["interrupted"]
    sent = agent_did.calls("POST", "/agents/agt_test/chat/cht_1")
    assert [m["streamId"] for m in sent] == [first, second]
    assert agent_did.chats == 1
    assert await Message.objects.filter(conversation=conversation, role="user").acount() == 2
    assert not [m for m in session.seen if m["type"] in ("session.ended", "error")], session.seen

    await session.close()
    await wait_for(lambda: agent_did.calls("DELETE", f"/agents/agt_test/streams/{second}"))
    for stream_id in (first, second):
        assert len(agent_did.calls("DELETE", f"/agents/agt_test/streams/{stream_id}")) == 1
