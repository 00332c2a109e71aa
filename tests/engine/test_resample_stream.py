"""Resampling speech that arrives in chunks gives the samples resampling it whole gives."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import resample_poly

from engine.resample_stream import StreamResampler


@pytest.mark.parametrize("length", [5, 146, 147, 3_000, 68_864])
@pytest.mark.parametrize("pieces", [[10**6], [7] * 10_000, [4_096, 12_288, 10**6], [1_000, 3, 10**6]])
def test_pieces_resampled_in_turn_are_the_whole_signal_resampled(length, pieces):
    audio = np.random.default_rng(length).standard_normal(length).astype(np.float32)
    resampler = StreamResampler(22_050, 48_000)
    out, position = [], 0
    for size in pieces:
        piece, position = audio[position : position + size], position + size
        out.append(resampler.feed(piece, final=position >= length))
        if position >= length:
            break
    assert np.array_equal(np.concatenate(out), resample_poly(audio, 320, 147))


def test_a_piece_too_short_to_resample_yet_waits_for_the_next():
    resampler = StreamResampler(22_050, 48_000)
    assert len(resampler.feed(np.ones(100, np.float32))) == 0  # the filter needs what follows
    assert len(resampler.feed(np.ones(400, np.float32))) > 0
