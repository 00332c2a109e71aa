"""The pure parts of a turn: sentence splitting, history trimming, barge-in. No I/O here."""

from __future__ import annotations

import re
from collections.abc import Iterable

# A sentence ends at . ! ? … (optionally followed by closing quotes/brackets) and whitespace.
_SENTENCE_END = re.compile(r"""[.!?…]+["')\]]*\s+""")
# Abbreviations and initials that end in a dot but do not end a sentence.
_NOT_AN_END = re.compile(
    r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Sr|Jr|St|vs|etc|e\.g|i\.e|No|Inc|Ltd|Co|approx|Fig)|\b[A-Z]|\d)\.\s+$"
)


class SentenceSplitter:
    """Feed LLM deltas, get whole sentences as soon as they are complete.

    A sentence shorter than `min_chars` is held and joined to the next one, so the avatar is not
    asked to say "Yes." on its own (each provider call has a fixed start-up cost); a sentence
    longer than `max_chars` is cut at a comma or space so providers' per-message caps hold.
    """

    def __init__(self, *, min_chars: int = 12, max_chars: int = 900) -> None:
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._buffer = ""

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        sentences: list[str] = []
        start = 0
        for match in _SENTENCE_END.finditer(self._buffer):
            candidate = self._buffer[start : match.end()]
            if _NOT_AN_END.search(candidate):
                continue
            if len(candidate.strip()) < self.min_chars:
                continue
            sentences.append(candidate.strip())
            start = match.end()
        self._buffer = self._buffer[start:]
        while len(self._buffer) > self.max_chars:
            head, self._buffer = _cut(self._buffer, self.max_chars)
            sentences.append(head)
        return sentences

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []


def _cut(text: str, limit: int) -> tuple[str, str]:
    window = text[:limit]
    cut = max(window.rfind(", "), window.rfind("; "))
    if cut < limit // 2:
        cut = window.rfind(" ")
    if cut <= 0:
        cut = limit
    return text[: cut + 1].strip(), text[cut + 1 :].lstrip()


def split_sentences(text: str) -> list[str]:
    splitter = SentenceSplitter()
    return splitter.feed(text + " ") + splitter.flush()


def estimate_tokens(text: str) -> int:
    """About four characters a token for English; good enough to cap a prompt's size."""
    return len(text) // 4 + 1


def trim_history(
    system_prompt: str, turns: Iterable[dict[str, str]], *, max_tokens: int
) -> list[dict[str, str]]:
    """The chat messages for the LLM: the system prompt plus the newest turns that fit."""
    budget = max_tokens - estimate_tokens(system_prompt)
    kept: list[dict[str, str]] = []
    for turn in reversed(list(turns)):
        cost = estimate_tokens(turn["content"]) + 4
        if cost > budget and kept:
            break
        kept.append(turn)
        budget -= cost
    # A chat must not open with an assistant turn.
    while len(kept) > 1 and kept[-1]["role"] == "assistant":
        kept.pop()
    return [{"role": "system", "content": system_prompt}, *reversed(kept)]


def is_barge_in(*, avatar_speaking: bool, reply_running: bool, transcript: str) -> bool:
    """The user talking over the avatar: any real words while it speaks or a reply is on its way.
    Filler noise ("uh", "mm") does not count, so a cough does not cut the avatar off."""
    if not (avatar_speaking or reply_running):
        return False
    words = [w for w in re.findall(r"[\w']+", transcript.lower()) if w not in _FILLERS]
    return len(words) >= 1


_FILLERS = {"uh", "um", "mm", "hmm", "mhm", "ah", "eh", "oh", "er"}
