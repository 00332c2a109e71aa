"""Cutting a streamed LLM reply into chunks the avatar can start saying one by one. Pure.

Chunks are whole sentences, except (with `clause_first`) the reply's first one, which may end at
a clause break: the avatar's speech synthesis starts on the first chunk, so a short first chunk
is heard sooner."""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets) and whitespace.
_SENTENCE_END = re.compile(r"""[.!?…]+["')\]]*\s+""")
# Dots that do not end a sentence: abbreviations, initials ("J. R. R."), and a list marker
# ("1. ") that opens the sentence. A number at the end of a sentence does end it ("is 42.").
_ABBREVIATION = r"\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e|Inc|Ltd|Co|approx|Fig)"
_NOT_AN_END = re.compile(rf"(?:{_ABBREVIATION}|\b[A-Z]|^\s*\d{{1,3}})\.\s+$")
# "No." ends a sentence ("No. It is red.") unless a number follows ("No. 5").
_NUMBER_SIGN = re.compile(r"\bNo\.\s+$")
# A clause ends at a comma, semicolon, colon or dash followed by whitespace: "1,000" and "10:30"
# have none, so numbers are never cut. A hyphen counts only as a spaced dash (" - ").
_CLAUSE_END = re.compile(r"""(?:[,;:]|\s-|[–—])["')\]]*\s+""")
# "e.g., apples": the comma right after an abbreviation belongs to it.
_AFTER_ABBREVIATION = re.compile(rf"(?:{_ABBREVIATION}|\b[A-Z]|\bNo)\.\S*\s+$")
# Fewer words than this, and a clause is not worth a provider call of its own.
CLAUSE_MIN_WORDS = 5
_WORD = re.compile(r"\w+(?:['’]\w+)*")


class SentenceSplitter:
    """Feed LLM deltas, get whole sentences as soon as they are complete.

    A sentence shorter than `min_chars` is held and joined to the next one, so the avatar is not
    asked to say "Yes." on its own (each provider call has a fixed start-up cost); a sentence
    longer than `max_chars` is cut at a comma or space so providers' per-message caps hold.
    With `clause_first`, the first chunk ends at the first clause break that closes at least
    `CLAUSE_MIN_WORDS` words, when that comes before the first sentence's end.
    """

    def __init__(self, *, min_chars: int = 12, max_chars: int = 900,
                 clause_first: bool = False) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self.clause_first = clause_first
        self._buffer = ""
        self._given = 0  # chunks given out so far

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        return self._take(final=False)

    def flush(self) -> list[str]:
        """The end of the reply: whatever is held is the last sentence (or several)."""
        sentences = self._take(final=True)
        rest, self._buffer = self._buffer.strip(), ""
        if rest:
            self._given += 1
        return [*sentences, rest] if rest else sentences

    def _take(self, *, final: bool) -> list[str]:
        chunks: list[str] = []
        start = 0
        while True:
            end, undecided = self._sentence_end(start, final=final)
            if self.clause_first and not self._given and not chunks and not final:
                # Only a clause break before any sentence end (found or still undecided).
                clause = self._clause_end(before=end if end is not None else undecided)
                end = clause if clause is not None else end
            if end is None:
                break
            chunks.append(self._buffer[start:end].strip())
            start = end
        self._buffer = self._buffer[start:]
        while len(self._buffer) > self.max_chars:
            head, self._buffer = _cut(self._buffer, self.max_chars)
            chunks.append(head)
        self._given += len(chunks)
        return chunks

    def _sentence_end(self, start: int, *, final: bool) -> tuple[int | None, int | None]:
        """(where the first whole sentence from `start` ends, None) — or (None, where an end
        waits for the next character to decide), or (None, None)."""
        for match in _SENTENCE_END.finditer(self._buffer, start):
            candidate = self._buffer[start : match.end()]
            following = self._buffer[match.end() : match.end() + 1]
            if not following and not final:
                return None, match.start()  # a lowercase word or a digit next: not an end
            if _NOT_AN_END.search(candidate) or following.islower():
                continue
            if following.isdigit() and _NUMBER_SIGN.search(candidate):
                continue
            if len(candidate.strip()) < self.min_chars:
                continue
            return match.end(), None
        return None, None

    def _clause_end(self, *, before: int | None) -> int | None:
        """Where the first clause of the reply ends, if it is long enough and complete."""
        for match in _CLAUSE_END.finditer(self._buffer):
            if before is not None and match.start() >= before:
                return None
            candidate = self._buffer[: match.end()]
            if match.end() == len(self._buffer):
                return None  # the whitespace may go on; cut when the next word starts
            if _AFTER_ABBREVIATION.search(candidate):
                continue
            if len(_WORD.findall(candidate)) >= CLAUSE_MIN_WORDS:
                return match.end()
        return None


def _cut(text: str, limit: int) -> tuple[str, str]:
    window = text[:limit]
    cut = max(window.rfind(", "), window.rfind("; "))
    if cut < limit // 2:
        cut = window.rfind(" ")
    if cut <= 0:
        cut = limit
    return text[: cut + 1].strip(), text[cut + 1 :].lstrip()


def split_sentences(text: str, *, min_chars: int = 12, clause_first: bool = False) -> list[str]:
    """A whole text at once, as the splitter would have cut it streamed."""
    splitter = SentenceSplitter(min_chars=min_chars, clause_first=clause_first)
    return splitter.feed(text) + splitter.flush()
