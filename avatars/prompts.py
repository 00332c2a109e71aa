"""The LLM system prompt for a conversation with an avatar: its persona's prompt (or a plain
assistant's), plus the language the avatar answers in."""

from __future__ import annotations

from .languages import DEFAULT_LANGUAGE, answer_in


def system_prompt_for(avatar, *, default: str) -> str:
    """What the LLM is told for `avatar` (`default` when it has no persona). The language line
    comes last, where small models weigh it most."""
    persona = getattr(avatar, "persona", None)
    prompt = persona.system_prompt() if persona else default
    return f"{prompt}\n{answer_in(getattr(avatar, 'language', '') or DEFAULT_LANGUAGE)}"
