"""Sentence splitting, checked against outputs written by hand (not against itself)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from streaming.sentences import SentenceSplitter, split_sentences


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 42. Do you want more?", ["The answer is 42.", "Do you want more?"]),
        ("It was built in 1969. Then it flew to the moon!",
         ["It was built in 1969.", "Then it flew to the moon!"]),
        ("Pi is about 3.14 and that is plenty. Anything else?",
         ["Pi is about 3.14 and that is plenty.", "Anything else?"]),
        ("Dr. Smith met Mr. Jones today. They talked for hours.",
         ["Dr. Smith met Mr. Jones today.", "They talked for hours."]),
        ("J. R. R. Tolkien wrote it long ago. Have you read it?",
         ["J. R. R. Tolkien wrote it long ago.", "Have you read it?"]),
        ("Is the sky green? No. It is blue most days.",
         ["Is the sky green?", "No. It is blue most days."]),
        ("Look at house No. 5 on the left side. It is the red one.",
         ["Look at house No. 5 on the left side.", "It is the red one."]),
        ("Bring fruit, e.g. apples or pears. Nothing else is needed.",
         ["Bring fruit, e.g. apples or pears.", "Nothing else is needed."]),
        ("It costs approx. five dollars each. That is cheap.",
         ["It costs approx. five dollars each.", "That is cheap."]),
        ('She said "hello there." Then she left the room.',
         ['She said "hello there."', "Then she left the room."]),
        ("Wait... really? I had no idea at all!", ["Wait... really?", "I had no idea at all!"]),
        ("Yes. I think so too, honestly.", ["Yes. I think so too, honestly."]),
        ("1. Mix the flour well. 2. Bake it for an hour.",
         ["1. Mix the flour well.", "2. Bake it for an hour."]),
        ("No trailing punctuation here", ["No trailing punctuation here"]),
        ("", []),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_a_sentence_is_given_out_as_soon_as_the_next_one_begins():
    splitter = SentenceSplitter()
    assert splitter.feed("The answer is 42.") == []
    assert splitter.feed(" ") == []  # "42. d..." or "42. D..." are different things
    assert splitter.feed("Do you") == ["The answer is 42."]
    assert splitter.feed(" want more?") == []
    assert splitter.flush() == ["Do you want more?"]


def test_deltas_split_anywhere_give_the_same_sentences():
    text = "Hello there! The moon is about 384,000 kilometres away. It takes light about one second."
    expected = ["Hello there!", "The moon is about 384,000 kilometres away.",
                "It takes light about one second."]
    for size in (1, 2, 3, 7, 50):
        splitter = SentenceSplitter()
        out = []
        for i in range(0, len(text), size):
            out += splitter.feed(text[i : i + size])
        assert out + splitter.flush() == expected, size


def test_a_short_sentence_waits_for_the_next_one():
    assert split_sentences("Yes. Sure. Let us go to the park now.") == [
        "Yes. Sure. Let us go to the park now."
    ]


def test_a_long_sentence_is_cut_at_a_comma_to_fit_the_providers_cap():
    splitter = SentenceSplitter(max_chars=40)
    text = "One two three four five six, seven eight nine ten eleven."
    assert splitter.feed(text) + splitter.flush() == [
        "One two three four five six,",
        "seven eight nine ten eleven.",
    ]


# The first chunk may be a clause ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Well, the moon is very far away, about 384,000 kilometres. It takes light a second.",
         ["Well, the moon is very far away,", "about 384,000 kilometres.",
          "It takes light a second."]),
        ("It weighs 1,000,000 tonnes or so in total. Really.",
         ["It weighs 1,000,000 tonnes or so in total.", "Really."]),
        ("Bring some fruit, e.g., apples or pears, and water. Thanks.",
         ["Bring some fruit, e.g., apples or pears,", "and water. Thanks."]),
        ("Yes, sure. The moon is far.", ["Yes, sure. The moon is far."]),
        ("I think the answer is simple, really quite simple. The second part, with many words "
         "in it, ends here.",
         ["I think the answer is simple,", "really quite simple.",
          "The second part, with many words in it, ends here."]),
        ("The moon is far away — about a light second. OK then.",
         ["The moon is far away —", "about a light second.", "OK then."]),
        ("The moon is far away - about a light second. OK then.",
         ["The moon is far away -", "about a light second.", "OK then."]),
        ("Here is what you need to know: it is far. Very far indeed.",
         ["Here is what you need to know:", "it is far. Very far indeed."]),
        ("Meet me at 10:30 in the lobby downstairs; bring the map.",
         ["Meet me at 10:30 in the lobby downstairs;", "bring the map."]),
        ("The launch is at 10:30. We meet at the gate, by the bus.",
         ["The launch is at 10:30.", "We meet at the gate, by the bus."]),
    ],
)
def test_the_first_chunk_may_be_a_clause_of_five_words_or_more(text, expected):
    assert split_sentences(text, clause_first=True) == expected


def test_without_clause_first_the_first_chunk_is_a_whole_sentence():
    text = "Well, the moon is very far away, about 384,000 kilometres. It takes light a second."
    assert split_sentences(text) == ["Well, the moon is very far away, about 384,000 kilometres.",
                                      "It takes light a second."]


def test_a_clause_is_given_out_when_the_next_word_starts():
    splitter = SentenceSplitter(clause_first=True)
    assert splitter.feed("One two three four five,") == []
    assert splitter.feed(" ") == []
    assert splitter.feed("six") == ["One two three four five,"]
    # Only the first chunk: later commas wait for the sentence's end.
    assert splitter.feed(" seven eight nine ten eleven, twelve") == []
    assert splitter.flush() == ["six seven eight nine ten eleven, twelve"]


def test_a_streamed_number_is_not_cut_at_its_comma():
    splitter = SentenceSplitter(clause_first=True)
    assert splitter.feed("There are about 384,") == []
    assert splitter.feed("000 of them in the sky") == []
    assert splitter.flush() == ["There are about 384,000 of them in the sky"]


_TOKENS = ["the", "moon", "is", "far", "Dr.", "e.g.,", "1,000", "away,", "away.", "yes!", "why?",
           "—", "-", "10:30", "it;", "so:", "Hello", '"quoted,"', "A.", "No.", "5", "etc.,", "...",
           "(aside)", "mid-word"]


@given(
    tokens=st.lists(st.sampled_from(_TOKENS), max_size=40),
    gaps=st.lists(st.sampled_from([" ", "  ", "\n"]), min_size=40, max_size=40),
    cuts=st.lists(st.integers(0, 400), max_size=12),
    clause_first=st.booleans(),
)
@hypothesis_settings(max_examples=400, deadline=None)
def test_the_chunks_joined_give_back_the_text(tokens, gaps, cuts, clause_first):
    text = "".join(token + gap for token, gap in zip(tokens, gaps, strict=False))
    splitter = SentenceSplitter(clause_first=clause_first)
    chunks: list[str] = []
    previous = 0
    for cut in sorted({min(c, len(text)) for c in cuts}) + [len(text)]:
        chunks += splitter.feed(text[previous:cut])
        previous = cut
    chunks += splitter.flush()
    assert " ".join(chunks).split() == text.split()
    assert all(chunk.strip() == chunk and chunk for chunk in chunks)
    # After the first chunk, every chunk but the last is a whole sentence.
    for chunk in chunks[1:-1]:
        assert chunk.rstrip("\"')]").endswith((".", "!", "?", "…")), chunks
