"""An outage reaches the page under the code of the service that failed, not the avatar's."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
import pytest

from conversations.models import Conversation
from streaming.error_codes import CODES

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(90)]

GROQ = json.loads(
    (Path(__file__).parents[1] / "unit" / "providers" / "fixtures" / "groq_stream.json").read_text()
)


@pytest.fixture
def conversation(alice, avatar):
    return Conversation.objects.create(user=alice, avatar=avatar, provider=avatar.provider)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_a_language_model_outage_is_reported_as_the_language_model(
    vendors, fake_did, fake_groq, celery_worker, open_session, conversation, alice
):
    async def down(request: httpx.Request) -> httpx.Response:
        fake_groq.requests.append(json.loads(request.content))
        # Groq's error body (https://console.groq.com/docs/errors), every retry.
        return httpx.Response(500, json=GROQ["errors"]["500"], headers={"retry-after-ms": "1"})

    fake_groq.handler = down
    session = await open_session(conversation, alice)
    await session.send(type="chat.text", text="Hello?")
    error = await session.expect("error", within=30)
    assert error["code"] == "llm_unavailable" and CODES[error["code"]].service == "llm"
    assert "Groq" in error["message"] and "groq-test-key" not in error["message"]
    await session.expect("reply.done")
    assert fake_did.spoken() == []  # nothing was said, and the avatar was not blamed
    await session.send(type="ping", t=1)
    await session.expect("pong")  # the session goes on
    await session.close()


async def test_a_speech_recognition_outage_is_reported_as_speech_recognition(
    settings, vendors, fake_did, celery_worker, open_session, conversation, alice
):
    settings.DEEPGRAM_URL = f"ws://127.0.0.1:{closed_port()}"
    settings.DEEPGRAM_API_KEY = "dg-test-key"
    session = await open_session(conversation, alice)
    await session.ws.send_to(bytes_data=b"\x00\x01" * 1600)  # 100 ms of 16 kHz PCM16
    error = await session.expect("error", within=30)
    assert error["code"] == "stt_unavailable" and CODES[error["code"]].service == "stt"
    assert "Deepgram" in error["message"]
    await session.send(type="chat.text", text="Typing still works?")
    final = await session.expect("transcript.final")
    assert final["source"] == "text"
    await session.expect("reply.done")
    await session.close()
