"""The local engine's Groq chat API, as the official `groq` SDK and plain HTTP clients see it.

The bundled SmolLM2 answers whatever model is asked for; replies stream as OpenAI-style
server-sent events ending in `[DONE]`; wrong keys and bad bodies get Groq-shaped errors; and
the next turn of a conversation reuses the work done for the previous one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading

import httpx
import pytest
from aiohttp import web
from groq import AsyncGroq, AuthenticationError

from engine import groq_chat, llm, media_claim
from engine.chat_tuning import EXAMPLES, FITTED_HEADER, ChatTuning
from engine.llm import ReplyStats, Sampling
from engine.media_claim import MediaClaim

from .running_engine import RunningEngine

pytestmark = pytest.mark.engine

logger = logging.getLogger(__name__)

KEY = "test-engine-key"
PERSONA = {
    "role": "system",
    "content": "You are Ada, a friendly software engineer. Answer in one short sentence.",
}




@pytest.fixture(scope="module")
def engine():
    app = web.Application()
    groq_chat.add_routes(app, {"api_key": KEY, "groq_model": "llama-3.3-70b-versatile"})
    with RunningEngine(app) as running:
        yield running


@pytest.fixture
async def groq(engine):
    client = AsyncGroq(base_url=engine.url, api_key=KEY, max_retries=0)
    yield client
    await client.close()


def raw_post(engine, body, key: str = KEY, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        f"{engine.url}/openai/v1/chat/completions",
        content=body if isinstance(body, str) else json.dumps(body),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                 **(headers or {})},
        timeout=60,
    )


async def test_the_groq_sdk_streams_a_reply(groq):
    stream = await groq.chat.completions.create(
        model="llama-3.1-8b-instant",
        messages=[PERSONA, {"role": "user", "content": "Hi Ada! What do you do for a living?"}],
        stream=True,
        max_tokens=48,
    )
    chunks = [chunk async for chunk in stream]

    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert {c.model for c in chunks} == {"llama-3.1-8b-instant"}  # echoed, as Groq does
    assert len({c.id for c in chunks}) == 1
    last = chunks[-1]
    assert last.choices[0].finish_reason in ("stop", "length")
    usage = last.x_groq.usage
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


def test_the_event_stream_ends_with_done(engine):
    body = {
        "model": "any-model",
        "messages": [{"role": "user", "content": "Say hello."}],
        "stream": True,
        "max_tokens": 8,
        "stream_options": {"include_usage": True},
    }
    response = raw_post(engine, body)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    events = [line[len("data: ") :] for line in response.text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-2]["choices"][0]["finish_reason"] in ("stop", "length")
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] >= 1


async def test_a_non_streaming_completion_carries_its_usage(groq):
    async def ask(**options):
        return await groq.chat.completions.create(
            model="llama-3.1-8b-instant",
            messages=[PERSONA, {"role": "user", "content": "What is the capital of France?"}],
            **options,
        )

    completion = await ask(max_tokens=32, temperature=0)
    assert completion.object == "chat.completion"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content.strip()
    assert completion.choices[0].finish_reason in ("stop", "length")
    assert 0 < completion.usage.completion_tokens <= 32
    assert completion.usage.prompt_tokens > completion.usage.prompt_tokens_details.cached_tokens

    again = await ask(max_tokens=32, temperature=0)  # greedy: the same words again
    assert again.choices[0].message.content == completion.choices[0].message.content

    cut = await ask(max_completion_tokens=3)
    assert cut.choices[0].finish_reason == "length"
    assert cut.usage.completion_tokens <= 4


async def test_a_wrong_key_gets_a_groq_401(engine):
    async with AsyncGroq(base_url=engine.url, api_key="wrong", max_retries=0) as wrong:
        with pytest.raises(AuthenticationError) as refused:
            await wrong.chat.completions.create(
                model="x", messages=[{"role": "user", "content": "hi"}]
            )
    assert refused.value.status_code == 401
    assert refused.value.body == {
        "error": {
            "message": "Invalid API Key",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{engine.url}/openai/v1/models")).status_code == 401


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "JSON object"),
        ({"messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": "m", "messages": []}, "messages"),
        ({"model": "m", "messages": [{"role": "wizard", "content": "hi"}]}, "role"),
        ({"model": "m", "messages": [{"role": "user", "content": 42}]}, "content"),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 3},
            "temperature",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
            "max_tokens",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stop": list("abcde")},
            "stop",
        ),
        ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2}, "'n'"),
    ],
)
def test_a_bad_body_gets_a_400_that_names_the_problem(engine, body, mentions):
    response = raw_post(engine, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"]
    assert mentions in error["message"]


def test_a_prompt_that_cannot_fit_is_a_400_context_length_error(engine):
    huge = "word " * 5000
    response = raw_post(engine, {"model": "m", "messages": [{"role": "user", "content": huge}]})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "context_length_exceeded"


async def test_the_next_turn_reuses_the_conversation_so_far(groq):
    async def turn(messages):
        first_token = None
        started = asyncio.get_running_loop().time()
        text, usage = "", None
        stream = await groq.chat.completions.create(
            model="llama-3.1-8b-instant", messages=messages, stream=True, max_tokens=40
        )
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                first_token = first_token or asyncio.get_running_loop().time() - started
                text += chunk.choices[0].delta.content
            if chunk.x_groq and chunk.x_groq.usage:
                usage = chunk.x_groq.usage
        return text, usage, first_token

    persona = {
        "role": "system",
        "content": PERSONA["content"] + " You live in Cambridge and love Rust, tea and long walks.",
    }
    history = [persona, {"role": "user", "content": "Where do you live?"}]
    reply, first, first_latency = await turn(history)
    history += [
        {"role": "assistant", "content": reply},
        {"role": "user", "content": "What do you like?"},
    ]
    _, second, second_latency = await turn(history)
    logger.info(
        "first token: turn 1 %.3f s (%d prompt tokens), turn 2 %.3f s (%d of %d cached)",
        first_latency,
        first.prompt_tokens,
        second_latency,
        second.prompt_tokens_details.cached_tokens,
        second.prompt_tokens,
    )
    # Everything up to the first reply was evaluated already and must not be paid for again.
    assert second.prompt_tokens_details.cached_tokens >= first.prompt_tokens


async def test_a_saved_state_holds_one_batch_of_logits(groq, engine):
    """Each reply's state is saved for the next turn with a copy of the logits; at
    llama-cpp-python's default batch (512 rows) that was 100 MB, copied after every reply."""
    await groq.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Name a colour."}], max_tokens=5
    )
    states = list(engine.app[groq_chat.CHAT_MODEL].llama.cache.cache_state.values())
    assert states
    assert all(state.scores.shape[0] <= llm.BATCH_TOKENS for state in states)
    assert all(llm.state_bytes(state) < 16 * 1024 * 1024 for state in states)


def test_a_long_prompt_is_read_on_every_core_and_a_short_one_on_the_childs_threads():
    """llama-cpp-python reads every prompt on every core unless told otherwise; beside a busy
    core its threads wait for each other after every layer, so only a conversation's first
    turn (its whole system prompt) is read so (engine/llm.py LONG_PROMPT_TOKENS)."""
    assert llm.prompt_threads(llm.LONG_PROMPT_TOKENS + 1, threads=1, cores=2) == 2
    assert llm.prompt_threads(llm.LONG_PROMPT_TOKENS, threads=1, cores=2) == 1
    assert llm.prompt_threads(500, threads=3, cores=2) == 3

    model = llm.ChatModel.load(threads=1)
    try:
        params = model.llama.context_params
        assert (params.n_threads, params.n_threads_batch) == (1, 1)
        model.cores = 2
        reading: list[tuple[int, int]] = []
        set_n_threads = model.llama._ctx.set_n_threads
        model.llama._ctx.set_n_threads = lambda n, batch: (reading.append((n, batch)),
                                                           set_n_threads(n, batch))
        system = {"role": "system", "content": "You are a helpful guide. " * 20}
        first = [system, {"role": "user", "content": "Name a colour."}]
        answer = "".join(model.generate(first, llm.Sampling(max_tokens=5), llm.ReplyStats(),
                                        threading.Event()))
        later = [*first, {"role": "assistant", "content": answer},
                 {"role": "user", "content": "And another?"}]
        list(model.generate(later, llm.Sampling(max_tokens=5), llm.ReplyStats(),
                            threading.Event()))
        assert reading == [(1, 2), (1, 1)]
    finally:
        model.close()


@pytest.fixture(scope="module")
def tuned_engine():
    app = web.Application()
    # " are": a stop sequence any answer about spiders reaches ("Spiders are ...")
    tuning = ChatTuning(hint="Be brief.", examples=EXAMPLES, max_temperature=0.0, stop=(" are",))
    groq_chat.add_routes(app, {"api_key": KEY}, tuning=tuning)
    with RunningEngine(app) as running:
        yield running


def test_each_request_is_fitted_to_the_small_model_before_it_answers(tuned_engine):
    messages = [PERSONA, {"role": "user", "content": "Tell me about spiders."}]
    body = {"model": "m", "messages": messages, "max_tokens": 60, "temperature": 1.5}

    reply = raw_post(tuned_engine, body).json()

    text = reply["choices"][0]["message"]["content"]
    assert text.strip() and " are" not in text  # the added stop sequence ended it
    model = tuned_engine.app[groq_chat.CHAT_MODEL]
    as_sent = len(model.prompt_tokens(messages, 60, ReplyStats()))
    assert reply["usage"]["prompt_tokens"] > as_sent + 10  # the hint and the example went in


def test_the_engines_own_prompt_is_not_fitted_again(tuned_engine):
    """Agents chats send a prompt written for the small model (the retrieved passage first): the
    hint and the example must not come between that passage and the question."""
    messages = [PERSONA, {"role": "user", "content": "Tell me about spiders."}]
    body = {"model": "m", "messages": messages, "max_tokens": 20, "temperature": 0.0}

    reply = raw_post(tuned_engine, body, headers={FITTED_HEADER: "1"}).json()

    model = tuned_engine.app[groq_chat.CHAT_MODEL]
    assert reply["usage"]["prompt_tokens"] == len(model.prompt_tokens(messages, 20, ReplyStats()))


async def test_the_models_list_says_who_really_answers(groq):
    models = await groq.models.list()
    ids = [m.id for m in models.data]
    assert ids[0] == "smollm2-135m-instruct"
    assert {"llama-3.1-8b-instant", "llama-3.3-70b-versatile"} <= set(ids)
    alias = next(m for m in models.data if m.id == "llama-3.1-8b-instant")
    assert "smollm2-135m-instruct" in alias.owned_by
    retrieved = await groq.models.retrieve("gpt-anything")
    assert retrieved.id == "gpt-anything" and "smollm2" in retrieved.owned_by


async def test_concurrent_requests_are_answered_one_after_the_other(groq):
    async def ask(question: str):
        return await groq.chat.completions.create(
            model="m", messages=[{"role": "user", "content": question}], max_tokens=12
        )

    replies = await asyncio.gather(*(ask(f"Say the number {n}.") for n in range(3)))
    assert all(r.choices[0].message.content for r in replies)
    assert max(r.usage.queue_time for r in replies) > 0


def test_other_engine_modules_can_chat_in_process(engine):
    async def ask() -> tuple[list[str], str]:
        pieces = [
            p
            async for p in groq_chat.complete_chat(
                engine.app, [{"role": "user", "content": "Say hi."}], max_tokens=12
            )
        ]
        whole = await groq_chat.complete(
            engine.app, [{"role": "user", "content": "Say bye."}], max_tokens=12
        )
        return pieces, whole

    pieces, whole = engine.call(ask())
    assert "".join(pieces).strip() and whole.strip()


def test_generation_pauses_while_the_media_process_claims_the_cpu(engine):
    """The rest of a reply waits while the media process synthesises speech nobody hears yet."""
    model = engine.app[groq_chat.CHAT_MODEL]
    fd = media_claim.create()
    media, original = MediaClaim(fd), model.claim
    model.claim = MediaClaim(fd)

    async def ask() -> tuple[str, ReplyStats]:
        reply = model.reply([{"role": "user", "content": "Count from one to ten."}],
                            Sampling(max_tokens=12, temperature=0.0))
        pieces: list[str] = []
        with contextlib.ExitStack() as claims:
            async for piece in reply:
                if not pieces:  # claimed from the first token on, and lapsing after 0.4 s
                    claims.enter_context(media.held(0.4))
                pieces.append(piece)
        return "".join(pieces), reply.stats

    try:
        text, stats = engine.call(ask())
    finally:
        model.claim = original
        os.close(fd)
    assert text.strip()
    assert 0.2 < stats.paused_seconds < 1.0

