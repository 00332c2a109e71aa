"""The audio track's own Opus packets (engine/opus_packets.py): speech encoded, settled silence
sent as one cached packet, every packet on the track's clock, and all of it decodable."""

from __future__ import annotations

import fractions

import numpy as np

from engine.opus_packets import SETTLE_FRAMES, OpusPackets

from .opus_receiver import OpusReceiver

FRAME = 960  # 20 ms at 48 kHz


def tone(n: int = FRAME, start: int = 0) -> np.ndarray:
    t = (np.arange(n) + start) / 48000
    return (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)


def decode(packets) -> np.ndarray:
    receiver = OpusReceiver()
    return np.concatenate([receiver.decode(p).to_ndarray().reshape(-1) for p in packets])


def test_settled_silence_is_one_cached_packet_and_speech_is_encoded_each_time():
    opus = OpusPackets()
    silent = np.zeros(FRAME, np.int16)
    packets = [opus.packet(silent, i * FRAME) for i in range(50)]
    assert opus.encoded == SETTLE_FRAMES  # the rest of the idle second cost no encoding
    assert len({bytes(p) for p in packets[SETTLE_FRAMES:]}) == 1
    assert len(bytes(packets[-1])) <= 3  # Opus's steady silence
    speech = [opus.packet(tone(start=i * FRAME), (50 + i) * FRAME) for i in range(10)]
    assert opus.encoded == SETTLE_FRAMES + 10
    assert all(len(bytes(p)) > 10 for p in speech)


def test_packets_carry_the_tracks_clock_across_any_silence():
    opus = OpusPackets()
    indices = [*range(100, 110), *range(5000, 5010)]  # a talk, a long idle gap, a talk
    packets = [opus.packet(tone() if i < 103 or i >= 5000 else np.zeros(FRAME, np.int16),
                           i * FRAME) for i in indices]
    assert [p.pts for p in packets] == [i * FRAME for i in indices]
    assert all(p.time_base == fractions.Fraction(1, 48000) for p in packets)


def test_what_is_sent_decodes_to_the_speech_and_to_silence():
    opus = OpusPackets()
    frames = [tone(start=i * FRAME) for i in range(25)] + [np.zeros(FRAME, np.int16)] * 25
    pcm = decode([opus.packet(f, i * FRAME) for i, f in enumerate(frames)])
    assert len(pcm) == 50 * FRAME
    speech, quiet = pcm[5 * FRAME : 20 * FRAME], pcm[35 * FRAME :]
    assert np.abs(speech).mean() > 2000  # the tone came through (Opus is lossy, not silent)
    assert np.abs(quiet).max() < 50
