"""The media process's claim on the CPU, which the LLM process honours between tokens.

What the user waits for after a sentence is sent is its first piece of speech: Piper synthesising
it in the media process while nothing plays. Meanwhile the LLM process goes on writing the rest
of the reply, and on a 2-core machine (with the browser on it too) the two halve each other's
CPU. Priorities cannot settle it: the LLM must come first until its first clause is out and
after the media then, and an unprivileged process can lower its priority but never raise it
back. So the media process holds a claim while it synthesises speech nobody is hearing yet,
and the LLM waits between two tokens while a claim is held.

A claim is 16 bytes of shared memory both processes map: how many claims the media process
holds, and the CLOCK_MONOTONIC deadline (ns) of the latest, after which a claim lapses, so a
media process that died holding one stops nobody for long. The engine's parent makes it (an
anonymous memfd: nothing on disk to clean up, whoever dies) and hands each child the file
descriptor, named in `ENGINE_MEDIA_CLAIM_FD`. Without it (the engine in one process, the tests
of one role) claims are no-ops.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import time
from collections.abc import Iterator, Mapping

ENV = "ENGINE_MEDIA_CLAIM_FD"
MAX_CLAIM_S = 1.0  # a synthesis that takes longer is too slow to wait for anyway
POLL_S = 0.005
_LAYOUT = struct.Struct("<qq")  # (claims held, deadline in ns of CLOCK_MONOTONIC)


def create() -> int | None:
    """The claim's shared memory, no claim held, as an inheritable file descriptor (the parent
    makes it before starting the children); None where there is no memfd (not Linux)."""
    if not hasattr(os, "memfd_create"):
        return None
    fd = os.memfd_create("engine-media-claim", 0)  # no MFD_CLOEXEC: the children inherit it
    os.ftruncate(fd, _LAYOUT.size)
    return fd


class MediaClaim:
    """One process's view of the claim: `held()` in the media process, `wait()` in the LLM's."""

    def __init__(self, fd: int | None = None) -> None:
        self._map: mmap.mmap | None = None
        if fd is not None:
            with contextlib.suppress(OSError, ValueError):  # not there or too short: no-ops
                self._map = mmap.mmap(fd, _LAYOUT.size)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MediaClaim:
        # The name spelled out (it is ENV): config/env_doc.py documents the literal names read.
        value = (os.environ if environ is None else environ).get("ENGINE_MEDIA_CLAIM_FD", "")
        return cls(int(value) if value.isdigit() else None)

    @property
    def enabled(self) -> bool:
        return self._map is not None

    def _read(self) -> tuple[int, int]:
        return _LAYOUT.unpack_from(self._map, 0) if self._map is not None else (0, 0)

    @contextlib.contextmanager
    def held(self, seconds: float = MAX_CLAIM_S) -> Iterator[None]:
        """Claim the CPU for the block (at most `seconds`). Call it from one thread only (the
        media process's event loop): the count is read, changed and written back unlocked."""
        if self._map is None:
            yield
            return
        count, deadline = self._read()
        until = time.monotonic_ns() + int(seconds * 1e9)
        _LAYOUT.pack_into(self._map, 0, count + 1, max(deadline, until))
        try:
            yield
        finally:
            count, deadline = self._read()
            _LAYOUT.pack_into(self._map, 0, max(count - 1, 0), deadline)

    def active(self) -> bool:
        count, deadline = self._read()
        return count > 0 and time.monotonic_ns() < deadline

    def wait(self, limit: float = MAX_CLAIM_S) -> float:
        """Sleep while a claim is held (at most `limit` seconds); the seconds slept."""
        if not self.active():
            return 0.0
        started = time.monotonic()
        while self.active() and time.monotonic() - started < limit:
            time.sleep(POLL_S)
        return time.monotonic() - started
