"""engine/memory_trim.py: the media process gives freed memory back after a talk."""

from __future__ import annotations

import asyncio
import platform
import threading

import pytest

from engine import memory_trim


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="malloc_trim is glibc's")
def test_trim_runs_on_glibc_and_once_at_a_time():
    assert memory_trim.trim() is True
    with memory_trim._busy:  # a trim already running: the next one is skipped, not queued
        assert memory_trim.trim() is False


async def test_trim_soon_runs_off_the_event_loop(monkeypatch):
    threads = []
    monkeypatch.setattr(memory_trim, "trim", lambda: threads.append(threading.current_thread()))
    memory_trim.trim_soon()
    for _ in range(100):
        if threads:
            break
        await asyncio.sleep(0.01)
    assert threads and threads[0] is not threading.main_thread()
