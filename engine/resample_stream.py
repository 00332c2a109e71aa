"""Resampling audio that arrives in pieces, with the same samples as resampling it whole.

Piper's speech is 22,050 Hz and WebRTC's is 48 kHz. A sentence now arrives in chunks
(piper_stream.py); resampling each chunk on its own would treat the audio beyond its edges as
silence and leave a click at every join. So each call resamples only up to a point that has
enough audio after it for the filter, and starts the next call from there with the audio before
it as context. Both points fall on multiples of `down` input samples, where input and output
samples coincide, so the pieces are cut from exactly the samples `resample_poly` gives for the
whole signal (tests/engine/test_resample_stream.py).

Hand-written because the filter is scipy's own (`resample_poly`, as before the stream); a
stateful resampler (libswresample, soxr) would give other samples and a delay to account for.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.signal import resample_poly

# resample_poly's default filter reaches 10 input samples to each side; a whole `down` period
# of context (147 for 22,050 -> 48,000) keeps the cut points on the shared sample grid.
_FILTER_REACH = 10


class StreamResampler:
    """Float or int16 mono audio from `rate_in` to `rate_out`, fed in pieces."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        g = math.gcd(rate_in, rate_out)
        self.up, self.down = rate_out // g, rate_in // g
        self._context = self.down * math.ceil(_FILTER_REACH / self.down)
        # Input from absolute sample `_base` on; before the first sample it is silence.
        self._audio = np.zeros(self._context, np.float32)
        self._base = -self._context
        self._start = 0  # the next input sample to resample
        self._fed = 0  # input samples fed so far

    def feed(self, audio: np.ndarray, *, final: bool = False) -> np.ndarray:
        """The output for as much input as can be resampled now (all of it when `final`)."""
        self._audio = np.concatenate([self._audio, np.asarray(audio, np.float32)])
        self._fed += len(audio)
        context = self._context
        if final:  # up to the grid, with silence after the end as resampling it whole has
            end = self._fed + (-self._fed) % self.down
            self._audio = np.concatenate([self._audio, np.zeros(end - self._fed + context, np.float32)])
        else:
            end = (self._fed - context) // self.down * self.down
        if end <= self._start:
            return np.zeros(0, np.float32)
        window = self._audio[self._start - context - self._base : end + context - self._base]
        first = context * self.up // self.down
        if final:  # exactly as many samples as resampling the whole input gives
            count = math.ceil(self._fed * self.up / self.down) - self._start * self.up // self.down
        else:
            count = (end - self._start) * self.up // self.down
        out = resample_poly(window, self.up, self.down)[first : first + count]
        self._audio = self._audio[end - context - self._base :]
        self._base = end - context
        self._start = end
        return out
