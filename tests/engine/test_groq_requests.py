"""Chat bodies as the Groq-compatible route reads them (engine/groq_requests.py), without a server
or a model: defaults, the forms OpenAI's and Groq's SDKs send, and the field each refusal names.
"""

from __future__ import annotations

import pytest

from engine.groq_requests import InvalidRequest, parse_chat_request
from engine.llm import DEFAULT_MAX_TOKENS, MAX_TOKENS_LIMIT

USER = {"role": "user", "content": "Hello"}


def test_a_minimal_body_gets_the_default_sampling_and_no_stream():
    chat = parse_chat_request({"model": "llama-3.1-8b-instant", "messages": [USER]})
    assert chat.model == "llama-3.1-8b-instant"
    assert chat.stream is False and chat.include_usage is False
    assert chat.sampling.max_tokens == DEFAULT_MAX_TOKENS
    assert (chat.sampling.temperature, chat.sampling.top_p, chat.sampling.stop) == (0.7, 0.95, ())


def test_the_sdks_forms_are_read_as_one_sampling():
    chat = parse_chat_request({
        "model": "m", "messages": [USER], "stream": True, "stop": "\n",
        "max_completion_tokens": MAX_TOKENS_LIMIT + 1000, "temperature": 0, "seed": 7,
        "stream_options": {"include_usage": True},
    })
    assert chat.stream is True and chat.include_usage is True
    assert chat.sampling.stop == ("\n",)
    assert chat.sampling.max_tokens == MAX_TOKENS_LIMIT  # capped, not refused
    assert (chat.sampling.temperature, chat.sampling.seed) == (0.0, 7)


@pytest.mark.parametrize(("body", "param"), [
    ({"messages": [USER]}, "model"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
    ({"model": "m", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
     "messages[0].content"),
    ({"model": "m", "messages": [USER], "max_tokens": True}, "max_tokens"),
    ({"model": "m", "messages": [USER], "temperature": 2.5}, "temperature"),
    ({"model": "m", "messages": [USER], "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"model": "m", "messages": [USER], "n": 2}, "n"),
])
def test_a_body_the_engine_cannot_serve_names_the_field_at_fault(body, param):
    with pytest.raises(InvalidRequest) as refused:
        parse_chat_request(body)
    assert refused.value.param == param


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(InvalidRequest, match="JSON object"):
        parse_chat_request(["not", "an", "object"])
