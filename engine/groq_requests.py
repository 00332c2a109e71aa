"""Requests to the Groq-compatible chat route (`engine/groq_chat.py`): an OpenAI/Groq chat body
checked field by field, the first problem found becoming Groq's 400 with its `param`. Pure: no
HTTP here, so the rules are unit-testable without a server.
"""

from __future__ import annotations

from dataclasses import dataclass

from .llm import DEFAULT_MAX_TOKENS, MAX_TOKENS_LIMIT, Sampling, normalise_messages

ROLES = ("system", "developer", "user", "assistant")


class InvalidRequest(ValueError):
    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


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
