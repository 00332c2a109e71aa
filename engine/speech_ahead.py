"""The threads that synthesise speech ahead of its turn to play, below the media's other work.

Once a talk's first chunk is on the timeline, its next chunks are decoded while it plays
(piper_stream.py), and they have a whole chunk's playing time to be ready. The first frames of
the talk's video do not: a frame drawn late is a mouth that opens late. Decoded at the same
priority, the next chunk delayed the first speaking frame (22-56 ms after the first audio at
p50 in the Chromium benchmark, against 7-12 ms when a sentence came whole). So that decoding
runs on threads of their own at a lower priority (nice +10, Linux's per-thread niceness),
which yield the CPU to the event loop (tracks, rendering) and the encoder threads of the
media process. Speech a listener is waiting for is synthesised on the normal executor.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

logger = logging.getLogger(__name__)

NICE = 10  # weight 110 against a nice-0 thread's 1024 in the same process
WORKERS = 2  # two talking streams can each have a chunk in progress

_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def _lower_priority() -> None:
    """Thread initializer: this thread gives way to the process's others."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: equal priority, as before
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)


def executor() -> ThreadPoolExecutor:
    """The process's pool for speech ahead of its turn (made on first use)."""
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=WORKERS, thread_name_prefix="speech-ahead", initializer=_lower_priority
            )
        return _pool
