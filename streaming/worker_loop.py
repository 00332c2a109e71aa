"""One long-lived event loop per Celery worker process, for the tasks' async code.

asyncio.run() per task would build and tear down everything async each turn: the provider
clients' connection pools (a new TLS handshake to D-ID and Groq on every reply), the Redis
connections of the channel layer. One loop per process, on its own thread, keeps them warm.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_owner_pid = 0


def loop() -> asyncio.AbstractEventLoop:
    """This process's loop, shared by its threads (the `replies` worker's thread pool); a prefork
    child makes its own: loops do not survive fork."""
    global _loop, _owner_pid
    with _lock:
        if _loop is None or _owner_pid != os.getpid() or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            _owner_pid = os.getpid()
            threading.Thread(target=_loop.run_forever, name="task-loop", daemon=True).start()
        return _loop


def run(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run `coro` on the process's loop and wait for it; if the wait is cut short (Celery's
    soft time limit raises here), the coroutine is cancelled rather than left running.
    `timeout`: cancelled on the loop after this many seconds (TimeoutError), in every pool,
    the thread pool included, which has no Celery time limits."""
    if timeout is not None:
        coro = asyncio.wait_for(coro, timeout)
    future = asyncio.run_coroutine_threadsafe(coro, loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise
