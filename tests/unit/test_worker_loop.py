"""The Celery workers' long-lived event loop, as the `replies` worker's thread pool uses it."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from streaming import worker_loop


def test_threads_share_one_loop_and_their_replies_run_side_by_side():
    loops: list[asyncio.AbstractEventLoop] = []
    both_running = threading.Barrier(2, timeout=5)

    async def reply() -> str:
        loops.append(asyncio.get_running_loop())
        # Both waits overlap only if the two threads' coroutines run on the loop at once.
        await asyncio.get_running_loop().run_in_executor(None, both_running.wait)
        return "done"

    with ThreadPoolExecutor(2) as pool:  # what `--pool threads` does with two tasks
        results = list(pool.map(lambda _: worker_loop.run(reply()), range(2)))
    assert results == ["done", "done"]
    assert loops[0] is loops[1] is worker_loop.loop()


def test_a_reply_past_its_deadline_is_cancelled_on_the_loop():
    cancelled = threading.Event()

    async def endless() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        worker_loop.run(endless(), timeout=0.2)
    assert cancelled.wait(5)
