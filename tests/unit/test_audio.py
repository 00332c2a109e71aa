"""Microphone audio: the voice check and the bounded queue to the recogniser."""

from __future__ import annotations

import asyncio

import numpy as np

from streaming.audio import AudioQueue, is_voiced, seconds


def frame(n: int) -> bytes:
    """100 ms of 16 kHz PCM16, its first sample numbering it."""
    return n.to_bytes(2, "little") + b"\x00\x00" * 1599


def tone(amplitude: float) -> bytes:
    t = np.arange(1600) / 16000
    return (amplitude * 32767 * np.sin(2 * np.pi * 220 * t)).astype("<i2").tobytes()


def test_speech_loud_enough_is_voiced_and_room_hiss_is_not():
    assert seconds(tone(0.1)) == 0.1
    assert is_voiced(tone(0.1))  # about -23 dBFS: speech near a microphone
    assert not is_voiced(tone(0.005))  # about -49 dBFS: a quiet room
    assert not is_voiced(b"")


def test_the_audio_queue_drops_the_oldest_audio_past_its_bound():
    queue = AudioQueue(max_seconds=0.3)
    dropped = [queue.put(frame(n)) for n in range(5)]
    assert dropped == [0, 0, 0, 1, 1] and queue.dropped == 2 and len(queue) == 3

    async def drain():
        return [int.from_bytes((await queue.get())[:2], "little") for _ in range(3)]

    assert asyncio.run(drain()) == [2, 3, 4]


def test_a_frame_larger_than_the_bound_is_still_kept():
    queue = AudioQueue(max_seconds=0.05)
    assert queue.put(frame(1)) == 0 and len(queue) == 1
    assert queue.put(frame(2)) == 1 and len(queue) == 1
