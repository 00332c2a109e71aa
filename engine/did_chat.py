"""D-ID's Agents chat, served locally (minimal): create a chat, send it messages.

POST /agents/{agent_id}/chat and /agents/{agent_id}/chat/{chat_id}, answered as
https://docs.d-id.com/reference/agents-streams-overview describes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime
from urllib.parse import quote

from aiohttp import web

from .did_errors import DidError, invalid
from .did_registry import STREAMS, StreamRegistry, check_session_id, did_endpoint
from .did_requests import read_json, text_field
from .stream_errors import NotAnswered
from .stream_session import StreamState, Talk

log = logging.getLogger(__name__)

LLM_TIMEOUT = 60.0
# An agent answers from its knowledge: no randomness, so that a name in a passage comes out as
# written rather than as the model's variation on it. Measured with SmolLM2-135M on a made-up
# fact and four mis-heard questions: 4/4 right greedy, 6/8 at 0.2 (two invented names).
CHAT_TEMPERATURE = 0.0
# "One to three short sentences" (did_agents.chat_prompt) is well under this; a small model that
# runs on is cut off here rather than talking for minutes.
CHAT_MAX_TOKENS = 100


@did_endpoint
async def create_chat(request: web.Request) -> web.Response:
    registry = request.app[STREAMS]
    await read_json(request, required=False)
    chat_id = f"cht_{secrets.token_urlsafe(12)}"
    registry.chats[chat_id] = []
    return web.json_response(
        {"id": chat_id, "agent_id": request.match_info["agent_id"], "created": _now_iso()},
        status=201,
    )


@did_endpoint
async def send_chat_message(request: web.Request) -> web.Response:
    """POST /agents/{agent_id}/chat/{chat_id}: answer with the engine's LLM, from the agent's
    instructions and knowledge when the engine holds the agent, and speak it on the stream
    (without a streamId the answer is text only)."""
    registry = request.app[STREAMS]
    agent_id = request.match_info["agent_id"]
    history = registry.chats.get(request.match_info["chat_id"])
    if history is None:
        raise DidError(404, "NotFoundError", f"chat {request.match_info['chat_id']} not found")
    body = await read_json(request)
    stream_id = text_field(body, "streamId")
    session = registry.get("agents", stream_id, agent_id) if stream_id else None
    if session is not None:
        check_session_id(session, body, "sessionId")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must be a non-empty list of {role, content}")
    for message in messages:
        if not (
            isinstance(message, dict)
            and message.get("role") in ("user", "assistant", "system")
            and isinstance(message.get("content"), str)
        ):
            raise invalid("each message needs a role (user/assistant/system) and a content string")
        if len(message["content"]) > registry.config.max_text_chars:
            raise invalid(f"a message is longer than {registry.config.max_text_chars} characters")
    if session is not None and session.state is StreamState.OFFERED:
        raise NotAnswered("no answer")
    new = [{"role": m["role"], "content": m["content"]} for m in messages]
    if history and new[: len(history)] == history:  # the client sent the whole conversation
        history[:] = new
    else:  # D-ID's demos send just the new message
        history.extend(new)
    question = next((m["content"] for m in reversed(new) if m["role"] == "user"), "")
    system, matches = [], []
    if registry.chat_context is not None:
        system, matches = await asyncio.to_thread(registry.chat_context, agent_id, question)
    reply = await _answer(registry, system + history)
    history.append({"role": "assistant", "content": reply})
    video_id = f"vid_{secrets.token_urlsafe(12)}"
    if session is not None:
        session.send_message("chat/answer:" + quote(reply, safe=""))  # demos decodeURIComponent
        await session.say(Talk(video_id=video_id, text=reply[: registry.config.max_text_chars]))
    return web.json_response(
        {
            "chatMode": "Functional",
            "result": reply,
            "context": "\n\n".join(m["data"] for m in matches),
            "matches": matches,
            "documentIds": list(dict.fromkeys(m["document_id"] for m in matches)),
            "video_id": video_id,
        }
    )


async def _answer(registry: StreamRegistry, history: list[dict]) -> str:
    if registry.llm is None:
        last = next((m["content"] for m in reversed(history) if m["role"] == "user"), "")
        return f"You said: {last}"
    try:
        reply = (await asyncio.wait_for(registry.llm(history), LLM_TIMEOUT)).strip()
    except (TimeoutError, RuntimeError) as exc:
        log.warning("agents chat: the chat model did not answer: %r", exc)
        raise DidError(503, "ServiceUnavailableError", "the chat model did not answer") from exc
    return reply or "Sorry, I have nothing to say to that."


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
