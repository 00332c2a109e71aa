"""Where a talk's first sentence is cut so its opening words are synthesised, and play, first."""

from __future__ import annotations

import pytest

from engine.first_clause import first_sentence_pieces


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("Sure, the capital of France is Paris.", ["Sure,", "the capital of France is Paris."]),
        ("Hello there, nice to meet you.", ["Hello there,", "nice to meet you."]),
        ("Well — I think so.", ["Well —", "I think so."]),
        ("Note this: it matters.", ["Note this:", "it matters."]),
        ("It costs 1,000 dollars, roughly.", ["It costs 1,000 dollars,", "roughly."]),
        ("  Sure,  thing.  ", ["Sure,", "thing."]),
        ("One two three four five six, seven.", ["One two three four five six,", "seven."]),
        (  # each clause is synthesised while the one before it plays
            "Sure, the capital of France is Paris, a city of about two million people that "
            "lies on the river Seine in the north of the country.",
            [
                "Sure,",
                "the capital of France is Paris,",
                "a city of about two million people that lies on the river Seine in the north "
                "of the country.",
            ],
        ),
        (  # only the first sentence is cut; the next ones wait their turn anyway
            "Yes, it is. The next sentence may be long, and it waits its turn.",
            ["Yes,", "it is. The next sentence may be long, and it waits its turn."],
        ),
    ],
)
def test_a_first_sentence_that_opens_with_a_short_clause_is_cut_at_its_marks(text, pieces):
    assert first_sentence_pieces(text) == pieces


@pytest.mark.parametrize(
    "text",
    [
        "The capital of France is Paris.",  # no clause mark: a cut mid-phrase would sound wrong
        "Hello! How are you, friend?",  # the first sentence is already short
        "One two three four five six seven, eight.",  # too long a clause to gain much
        "At 3:30 we meet.",  # marks inside numbers are no cuts
        "It is 1,000.",
        "Yes, .",  # nothing left to say after the mark
        "Sure,",
        # The rest would not be ready before "Sure," has been played: a silence would follow it.
        "Sure, the capital of France is the city of Paris on the river Seine in the north.",
    ],
)
def test_other_texts_are_one_piece(text):
    assert first_sentence_pieces(text) == [text]


def test_a_clause_too_long_to_be_ready_in_time_joins_the_one_before_it():
    text = "Sure, one two three four five six seven eight nine ten eleven, and then the end."
    assert first_sentence_pieces(text) == [
        "Sure, one two three four five six seven eight nine ten eleven,",
        "and then the end.",
    ]
    assert first_sentence_pieces("") == []
