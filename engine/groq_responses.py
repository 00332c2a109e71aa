"""What the Groq-compatible chat route (`engine/groq_chat.py`) writes back: errors in Groq's
shape, Groq's `usage` (with its timings), and a streamed completion as server-sent events.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator

from aiohttp import web

from .groq_requests import ChatRequest
from .llm import Reply

logger = logging.getLogger("engine.groq_chat")  # one logger for the whole route

SYSTEM_FINGERPRINT = "fp_livepersona_smollm2"


def error_response(
    status: int, message: str, kind: str, code: str, param: str | None = None
) -> web.Response:
    """An error in Groq's shape, `{"error": {"message", "type", "code"[, "param"]}}`."""
    body = {"error": {"message": message, "type": kind, "code": code}}
    if param:
        body["error"]["param"] = param
    return web.json_response(body, status=status)


async def stream_completion(
    request: web.Request,
    chat: ChatRequest,
    reply: Reply,
    pieces: AsyncGenerator[str, None],
    first: str | None,
    completion_id: str,
    request_id: str,
) -> web.StreamResponse:
    """Groq's SSE stream: the role chunk, content deltas from `first` on, the `finish_reason`
    chunk with `x_groq.usage`, then `[DONE]`."""
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
    )
    await response.prepare(request)
    created = int(time.time())

    def chunk(delta: dict | None, finish_reason: str | None = None, **extra) -> dict:
        choices = (
            []
            if delta is None
            else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        )
        return {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": chat.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": choices,
            **extra,
        }

    async def send(event: dict | str) -> None:
        data = event if isinstance(event, str) else json.dumps(event)
        await response.write(f"data: {data}\n\n".encode())

    try:
        await send(chunk({"role": "assistant", "content": ""}, x_groq={"id": request_id}))
        if first:
            await send(chunk({"content": first}))
            async for piece in pieces:
                await send(chunk({"content": piece}))
        usage = groq_usage(reply)
        await send(chunk({}, reply.stats.finish_reason, x_groq={"id": request_id, "usage": usage}))
        if chat.include_usage:  # OpenAI's stream_options: a last chunk with no choices
            await send(chunk(None, usage=usage))
        await send("[DONE]")
        await response.write_eof()
    except ConnectionError:  # the client left: stop generating for nobody
        reply.cancel()
    except Exception:  # headers are gone: say it the way Groq's SDK reads errors mid-stream
        logger.exception("chat completion %s failed mid-stream", completion_id)
        error = {"message": "The model failed to answer.", "type": "server_error"}
        with contextlib.suppress(ConnectionError):
            await send({"error": error})
    finally:
        await pieces.aclose()
    return response


def groq_usage(reply: Reply) -> dict:
    stats = reply.stats
    # Decoding time: without the first token's wait, nor the pauses for the media's speech.
    completion_time = max(
        stats.generation_seconds - stats.first_token_seconds - stats.paused_seconds, 0.0
    )
    return {
        "queue_time": round(stats.queue_seconds, 4),
        "prompt_tokens": stats.prompt_tokens,
        "prompt_time": round(stats.first_token_seconds, 4),
        "completion_tokens": stats.completion_tokens,
        "completion_time": round(completion_time, 4),
        "total_tokens": stats.prompt_tokens + stats.completion_tokens,
        "total_time": round(stats.generation_seconds, 4),
        "prompt_tokens_details": {"cached_tokens": stats.cached_tokens},
    }
