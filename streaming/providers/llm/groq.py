"""Groq chat completions, streamed, through the official `groq` SDK.

The SDK posts to `{base_url}/openai/v1/chat/completions` with `stream: true` and parses the
OpenAI-style server-sent events (`data: {chunk}` ... `data: [DONE]`), so settings.GROQ_BASE_URL
can point at Groq or at the local engine. The SDK retries connection errors, 408/409/429 and 5xx
itself (`max_retries`); what still fails is mapped to our ProviderError family here.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import groq
import httpx

from ...error_codes import LLM, Service
from ..errors import ProviderError, rejection, scrub, unavailable
from ..http import make_client, retry_after_seconds
from .base import LanguageModel

log = logging.getLogger(__name__)

PROVIDER = "groq"
SERVICE = Service(LLM, "language model service (Groq)")


class GroqChat(LanguageModel):
    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        timeout: float = 15.0,
        max_retries: int = 2,
        temperature: float = 0.7,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.model = model
        self.temperature = temperature
        self._api_key = api_key
        self._client = groq.AsyncGroq(
            base_url=base_url.rstrip("/"),
            api_key=api_key,
            timeout=timeout,
            max_retries=max_retries,
            # Ours rather than the SDK's default: it shares the process's TLS context.
            http_client=http_client or make_client(timeout=timeout),
        )

    def __repr__(self) -> str:
        return f"GroqChat(model={self.model!r}, base_url={str(self._client.base_url)!r})"

    async def aclose(self) -> None:
        await self._client.close()

    async def stream(
        self, messages: list[dict[str, str]], *, max_tokens: int = 200
    ) -> AsyncIterator[str]:
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=max_tokens,
                temperature=self.temperature,
                stream=True,
            )
            try:
                async for chunk in response:
                    if not chunk.choices:
                        continue
                    delta = chunk.choices[0].delta.content
                    if delta:
                        yield delta
            finally:
                await response.close()
        except groq.APIError as exc:
            error = self._error_for(exc)
            log.warning("groq %s failed: %s", self.model, error.code)
            raise error from None

    def _error_for(self, exc: groq.APIError) -> ProviderError:
        if isinstance(exc, groq.APIConnectionError):  # includes APITimeoutError
            return unavailable(
                provider=PROVIDER, service=SERVICE, vendor_message=type(exc).__name__
            )
        message = scrub(_vendor_message(exc), (self._api_key,))
        if isinstance(exc, groq.APIStatusError):
            status = exc.status_code
            if status >= 500:
                return unavailable(
                    provider=PROVIDER, service=SERVICE, status=status, vendor_message=message
                )
            return rejection(
                status,
                provider=PROVIDER,
                service=SERVICE,
                vendor_message=message,
                retry_after=retry_after_seconds(exc.response),
            )
        # An error event inside the stream, or an answer we could not parse.
        return unavailable(provider=PROVIDER, service=SERVICE, vendor_message=message)


def _vendor_message(exc: groq.APIError) -> str:
    body: Any = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return inner["message"][:300]
    return str(exc.message)[:300]
