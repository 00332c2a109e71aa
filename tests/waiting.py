"""Polling for tests that watch real processes: no timing is asserted, `within` is a ceiling."""

from __future__ import annotations

import time


def wait_for(predicate, within: float, what: str):
    """`predicate()`'s first truthy value, polled every 0.1 s; AssertionError after `within` s."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no {what} within {within} s")
