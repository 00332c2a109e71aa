"""Groq's OpenAI-compatible chat API, served by the local engine from the bundled SmolLM2.

- `POST /openai/v1/chat/completions`: `stream: true` answers with server-sent events
  (`chat.completion.chunk`s: the role first, then content deltas, then the `finish_reason`
  chunk carrying Groq's `x_groq.usage`, then `data: [DONE]`); otherwise one `chat.completion`.
- `GET /openai/v1/models` and `/openai/v1/models/{id}`.

Whatever model a request names, the bundled SmolLM2-135M-Instruct answers (the response echoes
the requested name, as Groq does; the models list says which model really serves it). Errors use
Groq's shape, `{"error": {"message", "type", "code"}}`: 401 for a wrong key, 400 for a body we
cannot serve. `complete_chat()` gives other engine modules the same model without HTTP. Every
request is fitted to the small model first (`chat_tuning.py`, the `ENGINE_LLM_*` variables).
Request bodies are checked in `groq_requests.py`; errors, usage and the SSE stream are written by
`groq_responses.py`.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

from .chat_tuning import FITTED_HEADER, ChatTuning
from .config import config_value, engine_key
from .groq_requests import InvalidRequest, parse_chat_request
from .groq_responses import SYSTEM_FINGERPRINT, error_response, groq_usage, stream_completion
from .llm import (
    DEFAULT_MAX_TOKENS,
    MAX_TOKENS_LIMIT,
    MODEL_ID,
    ChatModel,
    ContextTooLong,
    Sampling,
    normalise_messages,
)

logger = logging.getLogger(__name__)

# GROQ_MODEL's default in settings: listed so `models.retrieve()` of it works out of the box.
DEFAULT_ALIASES = ("llama-3.1-8b-instant",)
CREATED = 1_730_000_000  # a fixed "created" for the models list


@dataclass(frozen=True)
class GroqSettings:
    api_key: str
    aliases: tuple[str, ...] = DEFAULT_ALIASES
    model_path: str | None = None
    tuning: ChatTuning = ChatTuning()


CHAT_MODEL = web.AppKey("chat_model", ChatModel)
GROQ_SETTINGS = web.AppKey("groq_chat_settings", GroqSettings)


def add_routes(
    app: web.Application,
    config: object | None = None,
    *,
    api_key: str | None = None,
    model_path: str | None = None,
    tuning: ChatTuning | None = None,
) -> None:
    """Mount the chat and models routes and load the model when the app starts.

    The key is `api_key`, else `config.api_key` (attribute or mapping key), else
    $ENGINE_API_KEY, else the local default. `config.groq_model`, if set, is listed as an alias.
    `tuning` defaults to the `ENGINE_LLM_*` variables' (BadChatTuning if one is unusable).
    """
    aliases = [*DEFAULT_ALIASES, config_value(config, "groq_model") or os.environ.get("GROQ_MODEL")]
    app[GROQ_SETTINGS] = GroqSettings(
        api_key=engine_key(config, api_key),
        aliases=tuple(dict.fromkeys(a for a in aliases if a and a != MODEL_ID)),
        model_path=model_path or config_value(config, "llm_model_path"),
        tuning=tuning if tuning is not None else ChatTuning.from_env(),
    )
    app.router.add_post("/openai/v1/chat/completions", chat_completions)
    app.router.add_get("/openai/v1/models", list_models)
    app.router.add_get("/openai/v1/models/{model}", retrieve_model)
    app.on_startup.append(_load_model)
    app.on_cleanup.append(_unload_model)


async def complete_chat(
    app: web.Application,
    messages: Sequence[Mapping],
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    temperature: float = 0.7,
    top_p: float = 0.95,
    stop: Sequence[str] = (),
    fitted: bool = False,
) -> AsyncIterator[str]:
    """Stream a reply's text pieces in-process (for other engine modules). `fitted`: the prompt
    was written for the small model already (agents chats), so chat_tuning leaves it alone."""
    model = app.get(CHAT_MODEL)
    if model is None:
        raise RuntimeError("the chat model is not loaded (is the app started?)")
    sampling = Sampling(
        max_tokens=min(max_tokens, MAX_TOKENS_LIMIT),
        temperature=temperature,
        top_p=top_p,
        stop=tuple(stop),
    )
    messages = normalise_messages(messages)
    if not fitted:
        messages, sampling = app[GROQ_SETTINGS].tuning.apply(messages, sampling)
    async for piece in model.reply(messages, sampling):
        yield piece


async def _load_model(app: web.Application) -> None:
    if CHAT_MODEL in app:
        return
    model = await asyncio.to_thread(ChatModel.load, app[GROQ_SETTINGS].model_path)
    app[CHAT_MODEL] = model
    logger.info(
        "chat model %s loaded in %.2f s (+ %.2f s warm-up)",
        model.model_id,
        model.load_seconds,
        model.warm_up_seconds,
    )


async def _unload_model(app: web.Application) -> None:
    if CHAT_MODEL in app:
        app[CHAT_MODEL].close()


# --------------------------------------------------------------------------- the routes


def _refusal(request: web.Request) -> web.Response | None:
    """A 401 unless the request carries `Authorization: Bearer <key>` with the engine's key."""
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    expected = request.app[GROQ_SETTINGS].api_key
    if scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), expected.encode()):
        return None
    return error_response(401, "Invalid API Key", "invalid_request_error", "invalid_api_key")


async def chat_completions(request: web.Request) -> web.StreamResponse:
    refusal = _refusal(request)
    if refusal:
        return refusal
    try:
        chat = parse_chat_request(await request.json())
    except json.JSONDecodeError:
        return error_response(
            400, "The request body is not valid JSON.", "invalid_request_error", "invalid_json"
        )
    except InvalidRequest as error:
        return error_response(
            400, str(error), "invalid_request_error", "invalid_request", error.param
        )
    model = request.app.get(CHAT_MODEL)
    if model is None:
        return error_response(
            503, "The model is still loading.", "server_error", "service_unavailable"
        )
    if request.headers.get(FITTED_HEADER) == "1":  # the engine's own prompt (agents chats)
        reply = model.reply(chat.messages, chat.sampling)
    else:
        reply = model.reply(*request.app[GROQ_SETTINGS].tuning.apply(chat.messages, chat.sampling))
    completion_id = f"chatcmpl-{uuid.uuid4()}"
    request_id = f"req_{uuid.uuid4().hex[:26]}"
    pieces = aiter(reply)
    try:
        first = await anext(pieces, None)  # surfaces a prompt that cannot fit as a 400
    except ContextTooLong as error:
        return error_response(
            400, str(error), "invalid_request_error", "context_length_exceeded", "messages"
        )
    except Exception:
        logger.exception("chat completion %s failed", completion_id)
        return error_response(500, "The model failed to answer.", "server_error", "internal_error")
    if chat.stream:
        return await stream_completion(
            request, chat, reply, pieces, first, completion_id, request_id
        )
    try:
        text = (first or "") + "".join([piece async for piece in pieces])
    except Exception:
        logger.exception("chat completion %s failed", completion_id)
        return error_response(500, "The model failed to answer.", "server_error", "internal_error")
    finally:
        await pieces.aclose()
    return web.json_response(
        {
            "id": completion_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": chat.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "logprobs": None,
                    "finish_reason": reply.stats.finish_reason,
                }
            ],
            "usage": groq_usage(reply),
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "x_groq": {"id": request_id},
        }
    )


def _model_entry(model_id: str, request: web.Request) -> dict:
    served_by = f"{MODEL_ID} (SmolLM2-135M-Instruct Q4_1, llama.cpp)"
    return {
        "id": model_id,
        "object": "model",
        "created": CREATED,
        "owned_by": (
            "LivePersona local engine"
            if model_id == MODEL_ID
            else f"LivePersona local engine: any model id is served by {served_by}"
        ),
        "active": True,
        "context_window": request.app[CHAT_MODEL].llama.n_ctx() if CHAT_MODEL in request.app else 0,
        "max_completion_tokens": MAX_TOKENS_LIMIT,
        "public_apps": None,
    }


async def list_models(request: web.Request) -> web.Response:
    refusal = _refusal(request)
    if refusal:
        return refusal
    ids = [MODEL_ID, *request.app[GROQ_SETTINGS].aliases]
    return web.json_response({"object": "list", "data": [_model_entry(i, request) for i in ids]})


async def retrieve_model(request: web.Request) -> web.Response:
    refusal = _refusal(request)
    if refusal:
        return refusal
    return web.json_response(_model_entry(request.match_info["model"], request))


async def complete(app: web.Application, messages: Sequence[Mapping], **sampling) -> str:
    """The whole reply as one string (what D-ID agents chats need)."""
    return "".join([piece async for piece in complete_chat(app, messages, **sampling)])
