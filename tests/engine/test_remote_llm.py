"""Agents chat in the media process asks the LLM process over its unix socket (Groq's API)."""

from __future__ import annotations

import pytest
from aiohttp import web

from engine.did_chat import CHAT_MAX_TOKENS, CHAT_TEMPERATURE
from engine.server import remote_llm


@pytest.fixture
async def llm_socket(tmp_path):
    seen = []

    async def completions(request: web.Request) -> web.Response:
        seen.append((request.headers.get("Authorization"), await request.json()))
        if request.headers.get("Authorization") != "Bearer k":
            return web.json_response({"error": {"message": "Invalid API Key"}}, status=401)
        return web.json_response(
            {"choices": [{"message": {"role": "assistant", "content": "Eight legs."}}]}
        )

    app = web.Application()
    app.router.add_post("/openai/v1/chat/completions", completions)
    runner = web.AppRunner(app)
    await runner.setup()
    path = str(tmp_path / "llm.sock")
    await web.UnixSite(runner, path).start()
    yield path, seen
    await runner.cleanup()


async def test_the_answer_comes_from_the_llm_process(llm_socket):
    path, seen = llm_socket
    messages = [{"role": "user", "content": "How many legs does a spider have?"}]
    assert await remote_llm(path, "k")(messages) == "Eight legs."
    ((auth, body),) = seen
    assert auth == "Bearer k" and body["messages"] == messages
    # An agent answers from its knowledge: near-greedy, and briefly.
    assert body["temperature"] == CHAT_TEMPERATURE <= 0.3
    assert body["max_tokens"] == CHAT_MAX_TOKENS


async def test_an_llm_process_that_refuses_or_is_gone_is_a_plain_runtime_error(
    llm_socket, tmp_path
):
    path, _ = llm_socket
    with pytest.raises(RuntimeError, match="not available"):
        await remote_llm(path, "wrong")([{"role": "user", "content": "Hi"}])
    with pytest.raises(RuntimeError, match="not available"):
        await remote_llm(str(tmp_path / "gone.sock"), "k")([{"role": "user", "content": "Hi"}])
