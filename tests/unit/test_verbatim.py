"""The pure parts of saying a line verbatim: splitting it for the provider and timing it."""

from __future__ import annotations

import pytest

from streaming.verbatim import estimate_speaking_seconds, reported_seconds, split_for


class Provider:
    def __init__(self, max_text_chars: int) -> None:
        self.max_text_chars = max_text_chars


def test_a_line_is_split_into_sentences_in_order_short_ones_joined_to_the_next():
    line = "Hi. I am Ada, and I like compilers a lot! Do you like them too?"
    assert split_for(Provider(900), line) == [
        "Hi. I am Ada, and I like compilers a lot!", "Do you like them too?"
    ]


def test_a_short_line_is_said_whole():
    assert split_for(Provider(900), "  Hi.  ") == ["Hi."]


def test_no_piece_is_longer_than_the_provider_accepts():
    line = "word " * 400
    pieces = split_for(Provider(100), line)
    assert all(len(piece) <= 100 for piece in pieces)
    assert " ".join(pieces).split() == line.split()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("", 0.0), ("Hello.", 0.4), ("one two three four five", 2.0), ("word " * 150, 60.0)],
)
def test_speaking_time_is_estimated_at_150_words_a_minute(text, seconds):
    assert estimate_speaking_seconds(text) == seconds


def test_a_reported_duration_is_used_only_when_every_piece_reports_one():
    assert reported_seconds([{"task_id": "a", "duration_ms": 1500}, {"duration_ms": 500.0}]) == 2.0
    assert reported_seconds([{"duration_ms": 1500}, {"status": "started"}]) is None
    assert reported_seconds([{"duration_ms": "long"}]) is None
    assert reported_seconds([]) is None
