"""The language-model interface: stream a chat answer as text deltas."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Self


class LanguageModel(ABC):
    """`stream(messages)` yields the answer piece by piece, so speech can start on the first
    sentence. Use as `async with` (or call `aclose()`) to close the HTTP client in its loop."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:  # noqa: B027 - nothing to close by default
        """Release the client."""

    @abstractmethod
    def stream(
        self, messages: list[dict[str, str]], *, max_tokens: int = 200
    ) -> AsyncIterator[str]:
        """Text deltas of the answer to `messages` (OpenAI-style role/content dicts)."""
