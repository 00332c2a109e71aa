"""The barge-in benchmark tells a barge-in over a talk from one between two talks."""

from __future__ import annotations

from bench.barge_in_bench import talk_playing_at

TALKS = [(100.0, "stream/started"), (1400.0, "stream/done"), (2100.0, "stream/started")]


def test_a_talk_plays_from_its_start_to_its_done():
    assert not talk_playing_at(TALKS, 50.0)
    assert talk_playing_at(TALKS, 100.0)
    assert talk_playing_at(TALKS, 1399.0)
    assert talk_playing_at(TALKS, 2500.0)  # the next talk, not done yet


def test_between_two_talks_nothing_plays():
    """The reply's next sentence was still being written: the badge still says speaking."""
    assert not talk_playing_at(TALKS, 1400.0)
    assert not talk_playing_at(TALKS, 2000.0)


def test_the_events_may_come_in_any_order():
    assert talk_playing_at(list(reversed(TALKS)), 1000.0)
    assert not talk_playing_at(list(reversed(TALKS)), 1800.0)
