"""Groq's OpenAI-compatible chat API, served by the local engine from the bundled SmolLM2.

- `POST /openai/v1/chat/completions`: `stream: true` answers with server-sent events
  (`chat.completion.chunk`s: the role first, then content deltas, then the `finish_reason`
  chunk carrying Groq's `x_groq.usage`, then `data: [DONE]`); otherwise one `chat.completion`.
- `GET /openai/v1/models` and `/openai/v1/models/{id}`.

Whatever model a request names, the bundled SmolLM2-135M-Instruct answers (the response echoes
the requested name, as Groq does; the models list says which model really serves it). Errors use
Groq's shape, `{"error": {"message", "type", "code"}}`: 401 for a wrong key, 400 for a body we
cannot serve. `complete_chat()` gives other engine modules the same model without HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

from .config import config_value, engine_key
from .llm import (
    DEFAULT_MAX_TOKENS,
    MAX_TOKENS_LIMIT,
    MODEL_ID,
    ChatModel,
    ContextTooLong,
    Reply,
    Sampling,
    normalise_messages,
)

logger = logging.getLogger(__name__)

# GROQ_MODEL's default in settings: listed so `models.retrieve()` of it works out of the box.
DEFAULT_ALIASES = ("llama-3.1-8b-instant",)
ROLES = ("system", "developer", "user", "assistant")
SYSTEM_FINGERPRINT = "fp_livepersona_smollm2"
CREATED = 1_730_000_000  # a fixed "created" for the models list


@dataclass(frozen=True)
class GroqSettings:
    api_key: str
    aliases: tuple[str, ...] = DEFAULT_ALIASES
    model_path: str | None = None


CHAT_MODEL = web.AppKey("chat_model", ChatModel)
GROQ_SETTINGS = web.AppKey("groq_chat_settings", GroqSettings)


def add_routes(
    app: web.Application,
    config: object | None = None,
    *,
    api_key: str | None = None,
    model_path: str | None = None,
) -> None:
    """Mount the chat and models routes and load the model when the app starts.

    The key is `api_key`, else `config.api_key` (attribute or mapping key), else
    $ENGINE_API_KEY, else the local default. `config.groq_model`, if set, is listed as an alias.
    """
    aliases = [*DEFAULT_ALIASES, config_value(config, "groq_model") or os.environ.get("GROQ_MODEL")]
    app[GROQ_SETTINGS] = GroqSettings(
        api_key=engine_key(config, api_key),
        aliases=tuple(dict.fromkeys(a for a in aliases if a and a != MODEL_ID)),
        model_path=model_path or config_value(config, "llm_model_path"),
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
) -> AsyncIterator[str]:
    """Stream a reply's text pieces in-process (for other engine modules)."""
    model = app.get(CHAT_MODEL)
    if model is None:
        raise RuntimeError("the chat model is not loaded (is the app started?)")
    sampling = Sampling(
        max_tokens=min(max_tokens, MAX_TOKENS_LIMIT),
        temperature=temperature,
        top_p=top_p,
        stop=tuple(stop),
    )
    async for piece in model.reply(normalise_messages(messages), sampling):
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



# --------------------------------------------------------------------------- errors


class InvalidRequest(ValueError):
    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _error(
    status: int, message: str, kind: str, code: str, param: str | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": kind, "code": code}}
    if param:
        body["error"]["param"] = param
    return web.json_response(body, status=status)


def _refusal(request: web.Request) -> web.Response | None:
    """A 401 unless the request carries `Authorization: Bearer <key>` with the engine's key."""
    scheme, _, key = request.headers.get("Authorization", "").strip().partition(" ")
    expected = request.app[GROQ_SETTINGS].api_key
    if scheme.lower() == "bearer" and hmac.compare_digest(key.strip().encode(), expected.encode()):
        return None
    return _error(401, "Invalid API Key", "invalid_request_error", "invalid_api_key")


# --------------------------------------------------------------------------- the request


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict]
    stream: bool
    sampling: Sampling
    include_usage: bool = False


def parse_chat_request(body: object) -> ChatRequest:
    """Validate an OpenAI/Groq chat body; the first problem found is the error."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("'model' : property 'model' is missing or not a string", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty array", param="messages")
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"'{where}' must be an object", param=where)
        if message.get("role") not in ROLES:
            raise InvalidRequest(
                f"'{where}.role' must be one of {', '.join(ROLES)} (the local engine has no tools)",
                param=f"{where}.role",
            )
        content = message.get("content")
        if not (content is None or isinstance(content, str) or _text_parts(content)):
            raise InvalidRequest(
                f"'{where}.content' must be a string or an array of text parts",
                param=f"{where}.content",
            )
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise InvalidRequest("'stream' must be a boolean", param="stream")
    if body.get("n") not in (None, 1):
        raise InvalidRequest("'n' : number must be at most 1", param="n")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is None:
        max_tokens = DEFAULT_MAX_TOKENS
    elif not _is_int(max_tokens) or max_tokens < 1:
        raise InvalidRequest("'max_tokens' must be a positive integer", param="max_tokens")
    temperature = _number(body, "temperature", 0.7, 0.0, 2.0)
    top_p = _number(body, "top_p", 0.95, 0.0, 1.0)
    stop = body.get("stop")
    if stop is None:
        stop = []
    elif isinstance(stop, str):
        stop = [stop]
    if (
        not isinstance(stop, list)
        or len(stop) > 4
        or not all(isinstance(s, str) and s for s in stop)
    ):
        raise InvalidRequest("'stop' must be a string or up to 4 non-empty strings", param="stop")
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise InvalidRequest("'seed' must be an integer", param="seed")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise InvalidRequest("'stream_options' must be an object", param="stream_options")
    return ChatRequest(
        model=model,
        messages=normalise_messages(messages),
        stream=bool(stream),
        sampling=Sampling(
            max_tokens=min(int(max_tokens), MAX_TOKENS_LIMIT),
            temperature=temperature,
            top_p=top_p,
            stop=tuple(stop),
            seed=seed,
        ),
        include_usage=bool(options.get("include_usage")),
    )


def _text_parts(content: object) -> bool:
    return isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        for p in content
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(body: dict, name: str, default: float, low: float, high: float) -> float:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequest(f"'{name}' must be a number between {low:g} and {high:g}", param=name)
    return float(value)


# --------------------------------------------------------------------------- the routes


async def chat_completions(request: web.Request) -> web.StreamResponse:
    refusal = _refusal(request)
    if refusal:
        return refusal
    try:
        chat = parse_chat_request(await request.json())
    except json.JSONDecodeError:
        return _error(
            400, "The request body is not valid JSON.", "invalid_request_error", "invalid_json"
        )
    except InvalidRequest as error:
        return _error(400, str(error), "invalid_request_error", "invalid_request", error.param)
    model = request.app.get(CHAT_MODEL)
    if model is None:
        return _error(503, "The model is still loading.", "server_error", "service_unavailable")
    reply = model.reply(chat.messages, chat.sampling)
    completion_id = f"chatcmpl-{uuid.uuid4()}"
    request_id = f"req_{uuid.uuid4().hex[:26]}"
    pieces = aiter(reply)
    try:
        first = await anext(pieces, None)  # surfaces a prompt that cannot fit as a 400
    except ContextTooLong as error:
        return _error(
            400, str(error), "invalid_request_error", "context_length_exceeded", "messages"
        )
    except Exception:
        logger.exception("chat completion %s failed", completion_id)
        return _error(500, "The model failed to answer.", "server_error", "internal_error")
    if chat.stream:
        return await _stream(request, chat, reply, pieces, first, completion_id, request_id)
    try:
        text = (first or "") + "".join([piece async for piece in pieces])
    except Exception:
        logger.exception("chat completion %s failed", completion_id)
        return _error(500, "The model failed to answer.", "server_error", "internal_error")
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
            "usage": _usage(reply),
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "x_groq": {"id": request_id},
        }
    )


async def _stream(
    request: web.Request,
    chat: ChatRequest,
    reply: Reply,
    pieces: AsyncGenerator[str, None],
    first: str | None,
    completion_id: str,
    request_id: str,
) -> web.StreamResponse:
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
        usage = _usage(reply)
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


def _usage(reply: Reply) -> dict:
    stats = reply.stats
    completion_time = max(stats.generation_seconds - stats.first_token_seconds, 0.0)
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
