"""The chat messages sent to the LLM for one reply: the persona's prompt and the newest turns that
fit the token budget. Pure."""

from __future__ import annotations

from collections.abc import Iterable


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
