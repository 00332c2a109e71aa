"""The held answer of a preemptive reply: read into memory while the turn may still go on, then
given back whole, in order, to the reply that adopts it (streaming/preemptive.py)."""

from __future__ import annotations

import asyncio

import pytest

from streaming.preemptive import HeldAnswer
from streaming.providers.errors import ProviderError, ProviderUnavailable
from streaming.providers.llm.groq import SERVICE as GROQ


class Tap:
    """An LLM stream the test opens one delta at a time."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()
        self.closed = False

    async def stream(self):
        try:
            while (delta := await self.queue.get()) is not None:
                if isinstance(delta, Exception):
                    raise delta
                yield delta
        finally:
            self.closed = True


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_an_adopted_answer_gives_what_came_so_far_then_the_rest_as_it_comes():
    tap = Tap()
    held = HeldAnswer(tap.stream())
    for delta in ("The moon", " is far."):
        tap.queue.put_nowait(delta)
    await settle()
    assert held.text == "The moon is far."  # read while no one listened

    given: list[str] = []

    async def adopt():
        async for delta in held.stream([], max_tokens=10):
            given.append(delta)

    adopting = asyncio.create_task(adopt())
    await settle()
    assert given == ["The moon", " is far."]
    tap.queue.put_nowait(" Very far.")
    await settle()
    assert given[-1] == " Very far." and not adopting.done()
    tap.queue.put_nowait(None)  # the LLM's stream ends
    await asyncio.wait_for(adopting, 5)
    assert "".join(given) == "The moon is far. Very far."


async def test_an_llm_error_reaches_the_reply_that_adopts_it_after_the_words_before_it():
    tap = Tap()
    held = HeldAnswer(tap.stream())
    tap.queue.put_nowait("Hello.")
    tap.queue.put_nowait(ProviderUnavailable("The LLM is unreachable.", service=GROQ))
    await settle()
    given = []
    with pytest.raises(ProviderError):
        async for delta in held.stream():
            given.append(delta)
    assert given == ["Hello."]


async def test_closing_it_stops_reading_the_llm():
    tap = Tap()
    held = HeldAnswer(tap.stream())
    tap.queue.put_nowait("Hello.")
    await settle()
    await held.aclose()
    assert tap.closed and held.text == "Hello."
