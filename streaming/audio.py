"""The microphone's audio as the consumer sees it: 16 kHz mono PCM16 frames. No I/O."""

from __future__ import annotations

import asyncio
from collections import deque

import numpy as np

SAMPLE_RATE = 16000
BYTES_PER_SECOND = 2 * SAMPLE_RATE
# About -40 dBFS: above a quiet room's hiss, below any speech close to a laptop or headset mic.
VOICED_RMS = 330.0


def seconds(pcm: bytes) -> float:
    return len(pcm) / BYTES_PER_SECOND


def is_voiced(pcm: bytes) -> bool:
    """Whether a frame is loud enough to be speech. Only a cross-check on the recogniser's
    speech-start event (which says when voice began, not how long it lasted)."""
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    if not samples.size:
        return False
    return float(np.sqrt(np.mean(samples * samples))) >= VOICED_RMS


class AudioQueue:
    """Microphone audio on its way to the recogniser, at most `max_seconds` of it.

    When the recogniser falls behind, the oldest audio is dropped: the socket's other frames
    (pings, signaling) never wait behind audio, and what the recogniser gets is the newest
    speech, not a growing backlog of old speech.
    """

    def __init__(self, max_seconds: float = 2.0) -> None:
        self.max_bytes = int(max_seconds * BYTES_PER_SECOND)
        self.dropped = 0  # frames dropped since the queue was made
        self._frames: deque[bytes] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._frames)

    def put(self, pcm: bytes) -> int:
        """Queue a frame; returns how many old frames were dropped to make room."""
        self._frames.append(pcm)
        self._bytes += len(pcm)
        dropped = 0
        while self._bytes > self.max_bytes and len(self._frames) > 1:
            self._bytes -= len(self._frames.popleft())
            dropped += 1
        self.dropped += dropped
        self._ready.set()
        return dropped

    async def get(self) -> bytes:
        while not self._frames:
            self._ready.clear()
            await self._ready.wait()
        pcm = self._frames.popleft()
        self._bytes -= len(pcm)
        return pcm

    def clear(self) -> None:
        self._frames.clear()
        self._bytes = 0
