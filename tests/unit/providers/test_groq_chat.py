"""Groq chat completions, streamed: the request on the wire, the deltas the caller gets, and
how failures reach the caller."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from streaming.providers.errors import ProviderRateLimited, ProviderRejected, ProviderUnavailable
from streaming.providers.llm.groq import GroqChat

from .vendor_wire import GROQ_KEY, load

BASE = "http://127.0.0.1:8700"
GROQ = load("groq_stream.json")
PATH = GROQ["request"]["path"]
MESSAGES = [
    {"role": "system", "content": "You are Ada, speaking out loud."},
    {"role": "user", "content": "Hi!"},
]


def sse(chunks: list[dict]) -> httpx.Response:
    """The body exactly as Groq streams it: `data: {json}` events and a final `data: [DONE]`."""
    body = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


def chat(wire, max_retries: int = 2) -> GroqChat:
    return GroqChat(
        BASE, GROQ_KEY, "llama-3.1-8b-instant", max_retries=max_retries, http_client=wire.client()
    )


async def collect(llm: GroqChat, **kwargs) -> list[str]:
    return [delta async for delta in llm.stream(MESSAGES, **kwargs)]


async def test_the_answer_streams_as_text_deltas(wire):
    wire.on("POST", PATH, sse(GROQ["chunks"]))
    async with chat(wire) as llm:
        deltas = await collect(llm, max_tokens=120)
    assert deltas == [
        "Hello",
        " there!",
        " How are you?",
    ]  # empty role chunk and stop chunk skipped


async def test_the_request_is_an_openai_style_streaming_completion_with_bearer_auth(wire):
    wire.on("POST", PATH, sse(GROQ["chunks"]))
    async with chat(wire) as llm:
        await collect(llm, max_tokens=120)
    (request,) = wire.sent()
    assert request["method"] == "POST" and request["path"] == PATH
    assert request["headers"]["authorization"] == f"Bearer {GROQ_KEY}"
    assert request["headers"]["content-type"] == "application/json"
    assert request["json"] == {
        "model": "llama-3.1-8b-instant",
        "messages": MESSAGES,
        "max_tokens": 120,
        "temperature": 0.7,
        "stream": True,
    }


async def test_stopping_early_closes_the_stream(wire):
    wire.on("POST", PATH, sse(GROQ["chunks"]))
    async with chat(wire) as llm:
        stream = llm.stream(MESSAGES)
        assert await anext(stream) == "Hello"
        await stream.aclose()  # barge-in: the reply is cancelled mid-way


async def test_a_429_is_retried_by_the_sdk_and_then_the_answer_streams(wire):
    limited = httpx.Response(429, json=GROQ["errors"]["429"], headers={"retry-after-ms": "5"})
    wire.on("POST", PATH, limited, sse(GROQ["chunks"]))
    async with chat(wire) as llm:
        deltas = await collect(llm)
    assert "".join(deltas) == "Hello there! How are you?"
    assert len(wire.requests) == 2


async def test_a_429_that_persists_is_rate_limited_with_groqs_reason(wire):
    headers = {"retry-after": "1", "retry-after-ms": "1"}  # the SDK prefers the milliseconds
    wire.on("POST", PATH, httpx.Response(429, json=GROQ["errors"]["429"], headers=headers))
    async with chat(wire) as llm:
        with pytest.raises(ProviderRateLimited) as caught:
            await collect(llm)
    assert len(wire.requests) == 3  # the first try and max_retries=2
    assert caught.value.status == 429 and caught.value.retry_after == 1.0
    assert "Rate limit reached" in caught.value.vendor_message


async def test_a_bad_key_is_rejected_at_once_and_the_key_is_never_shown(wire, caplog):
    body = {"error": {"message": f"Invalid API Key {GROQ_KEY}", "type": "invalid_request_error"}}
    wire.on("POST", PATH, httpx.Response(401, json=body))
    caplog.set_level(logging.DEBUG)
    async with chat(wire) as llm:
        with pytest.raises(ProviderRejected) as caught:
            await collect(llm)
    exc = caught.value
    assert len(wire.requests) == 1
    assert (exc.status, exc.code) == (401, "llm_auth")
    assert exc.vendor_message.startswith("Invalid API Key")
    for text in (str(exc), repr(exc), exc.message, exc.vendor_message, caplog.text):
        assert GROQ_KEY not in text


async def test_a_server_error_that_persists_is_unavailable(wire):
    wire.on(
        "POST",
        PATH,
        httpx.Response(500, json=GROQ["errors"]["500"], headers={"retry-after-ms": "1"}),
    )
    async with chat(wire) as llm:
        with pytest.raises(ProviderUnavailable) as caught:
            await collect(llm)
    assert caught.value.status == 500 and len(wire.requests) == 3


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ReadTimeout])
async def test_no_connection_or_a_timeout_is_unavailable(wire, failure):
    wire.on("POST", PATH, failure)
    async with chat(wire, max_retries=0) as llm:
        with pytest.raises(ProviderUnavailable) as caught:
            await collect(llm)
    assert caught.value.vendor_message in ("APIConnectionError", "APITimeoutError")


async def test_an_error_event_in_the_middle_of_the_stream_is_unavailable(wire):
    chunks = [*GROQ["chunks"][:2], {"error": {"message": "model overloaded"}}]
    wire.on("POST", PATH, sse(chunks))
    async with chat(wire) as llm:
        deltas = []
        with pytest.raises(ProviderUnavailable) as caught:
            async for delta in llm.stream(MESSAGES):
                deltas.append(delta)
    assert deltas == ["Hello"]
    assert "model overloaded" in caught.value.vendor_message
