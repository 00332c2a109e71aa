"""Where a talk's first sentence is cut so its first words can play sooner.

Piper's encoder reads a whole sentence before any of it can play (its decoder then runs in
chunks, piper_stream.py), and its cost grows with the sentence's length. A reply usually opens
with a short clause ("Sure, ...", "Well, ...", "Hello there, ..."): synthesised on its own it is
ready sooner, and the rest of the sentence is synthesised while it plays.
Only a clause mark is a cut: a cut mid-phrase would give the first words a sentence's falling
end. Each piece must be short enough to be ready before the piece before it has been played (a
longer piece buys more time), else it joins that piece: a gap would be heard as a silence.
"""

from __future__ import annotations

import re

MAX_CLAUSE_WORDS = 6  # a longer first clause saves too little to be worth its own synthesis
# A piece may have NEXT_WORDS + NEXT_WORDS_PER_WORD * (words of the piece before it) words:
# Piper takes up to ~40 ms per word on one loaded core, a word plays for ~0.35 s, and "Sure,"
# plays for ~0.5 s.
NEXT_WORDS = 8
NEXT_WORDS_PER_WORD = 2

# A clause mark followed by a space (so "1,000" and "3:30" are no cuts), or a spaced dash.
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+|(?<=\s[-–—])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def _words(text: str) -> int:
    return len(text.split())


def _ready_in_time(before: str, piece: str) -> bool:
    return _words(piece) <= NEXT_WORDS + NEXT_WORDS_PER_WORD * _words(before)


def first_sentence_pieces(text: str) -> list[str]:
    """The text as the pieces to synthesise in order: the first sentence cut at its clause
    marks when it opens with a short clause, the last piece carrying the following sentences."""
    text = " ".join(text.split())
    first, *following = _SENTENCE_END.split(text, maxsplit=1)
    clauses = [c for c in _CLAUSE_END.split(first) if c]
    if len(clauses) < 2 or _words(clauses[0]) > MAX_CLAUSE_WORDS:
        return [text] if text else []
    pieces = [clauses[0]]
    for clause in clauses[1:]:
        pieces.append(clause)
        while len(pieces) > 1 and not _ready_in_time(pieces[-2], pieces[-1]):
            late = pieces.pop()
            pieces[-1] = f"{pieces[-1]} {late}"
    if len(pieces) > 1 and not any(ch.isalnum() for ch in pieces[-1]):
        pieces[-2:] = [f"{pieces[-2]} {pieces[-1]}"]  # nothing left to say after the mark
    pieces[-1] = " ".join([pieces[-1], *following])
    return pieces
