"""Once a conversation's stream is live, the local engine's LLM reads the first turn's prompt
(for one token), so the first question does not wait for it; a cloud LLM is never asked.
Real Redis and Celery worker; the vendors are fake, at the wire."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from avatars.prompts import system_prompt_for
from conversations.models import Conversation
from streaming.llm_warmup import STAND_IN_QUESTION
from streaming.providers.registry import use_transport

from .conftest import wait_for
from .fakes import ANSWER_SDP

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


@pytest.fixture
def local_llm(settings, vendors, fake_did, fake_groq):
    """The LLM is the local engine (its host and port), answered by the fake Groq."""
    settings.GROQ_BASE_URL = f"http://{settings.ENGINE_HOST}:{settings.ENGINE_PORT}"

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.port == settings.ENGINE_PORT:
            return await fake_groq.handler(request)
        return await fake_did.handler(request)

    with use_transport(httpx.MockTransport(route)):
        yield fake_groq


async def test_the_local_engines_llm_reads_the_first_prompt_once_the_stream_is_live(
    local_llm, celery_worker, open_session, conversation, alice, avatar
):
    session = await open_session(conversation, alice)
    await asyncio.sleep(0.3)
    assert not local_llm.requests  # not before the stream is live
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await wait_for(lambda: len(local_llm.requests) == 1, within=20)
    (warm,) = local_llm.requests
    assert warm["max_tokens"] == 1
    system = system_prompt_for(avatar, default="")
    assert warm["messages"][0] == {"role": "system", "content": system}
    assert warm["messages"][1:] == [{"role": "user", "content": STAND_IN_QUESTION}]

    # The first question's prompt is the same up to the question.
    await session.send(type="chat.text", text="How far away is the moon?")
    await wait_for(lambda: len(local_llm.requests) == 2, within=20)
    asked = local_llm.requests[1]["messages"]
    assert asked[0] == warm["messages"][0] and asked[-1]["role"] == "user"
    await session.close()


async def test_a_cloud_llm_is_not_asked_before_the_first_question(
    vendors, fake_groq, celery_worker, open_session, conversation, alice
):
    session = await open_session(conversation, alice)
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await session.send(type="ping", t=1)
    await session.expect("pong")
    await asyncio.sleep(1.0)  # a warm-up would have reached the fake by now
    assert not fake_groq.requests
    await session.close()


async def test_the_warm_up_can_be_switched_off(
    settings, local_llm, celery_worker, open_session, conversation, alice
):
    settings.LLM_WARMUP = False
    session = await open_session(conversation, alice)
    await session.send(type="rtc.answer", sdp=ANSWER_SDP)
    await session.send(type="ping", t=1)
    await session.expect("pong")
    await asyncio.sleep(1.0)
    assert not local_llm.requests
    await session.close()
