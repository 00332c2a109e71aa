"""Client audio for the live recogniser: raw linear16 PCM at any rate to 16 kHz mono float32."""

from __future__ import annotations

import numpy as np

from .speech_models import SAMPLE_RATE


class UnsupportedAudio(ValueError):
    """The client's audio format is not one the engine can decode."""


class Linear16Decoder:
    """Raw little-endian PCM16 (any rate 8–48 kHz, interleaved channels) to 16 kHz mono float32.

    Messages may split a frame anywhere; the leftover bytes wait for the next message. Other
    rates are brought to 16 kHz by linear interpolation, which both recognisers tolerate well.
    """

    def __init__(self, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> None:
        if not 8_000 <= sample_rate <= 48_000:
            raise UnsupportedAudio(f"sample_rate {sample_rate} is outside 8000–48000")
        if not 1 <= channels <= 8:
            raise UnsupportedAudio(f"channels {channels} is outside 1–8")
        self.sample_rate = sample_rate
        self.channels = channels
        self._frame_bytes = 2 * channels
        self._leftover = b""
        self._step = sample_rate / SAMPLE_RATE
        self._tail = np.zeros(1, dtype=np.float32)
        self._pos = 1.0  # next output sample, in input samples counted from self._tail[0]
        self.bytes_received = 0

    @property
    def seconds_received(self) -> float:
        return self.bytes_received / self._frame_bytes / self.sample_rate

    def decode(self, data: bytes) -> np.ndarray:
        self.bytes_received += len(data)
        data = self._leftover + data
        usable = len(data) - len(data) % self._frame_bytes
        self._leftover = data[usable:]
        samples = np.frombuffer(data[:usable], dtype="<i2").astype(np.float32) / 32768.0
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1)
        if self.sample_rate == SAMPLE_RATE or not len(samples):
            return samples
        return self._resample(samples)

    def _resample(self, samples: np.ndarray) -> np.ndarray:
        audio = np.concatenate([self._tail, samples])
        last = len(audio) - 1
        count = int(np.floor((last - self._pos) / self._step)) + 1 if last >= self._pos else 0
        where = self._pos + self._step * np.arange(count)
        out = np.interp(where, np.arange(len(audio)), audio).astype(np.float32)
        self._pos = self._pos + self._step * count - last
        self._tail = audio[-1:]
        return out
