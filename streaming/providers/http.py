"""What every HTTP provider shares: a client with explicit timeouts and one careful request loop.

`request_with_retries` retries what is worth retrying (network errors and timeouts, 429 honouring
Retry-After, 5xx) with exponential backoff and jitter, as D-ID's own demo does with
`fetchWithRetries`, and turns everything else into our ProviderError family. Log lines carry the
method, path, status and timing only: never headers, never the key.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import logging
import random
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import certifi
import httpx

from ..error_codes import Service
from .errors import ProviderError, bad_response, rejection, scrub, unavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. Tests pass `sleep` to record the waits instead of waiting."""

    attempts: int = 3
    base_delay: float = 0.5
    max_delay: float = 4.0
    # Waiting longer than this for a 429 would stall a live conversation: give up instead.
    max_retry_after: float = 8.0
    jitter: float = 0.5
    sleep: Callable[[float], Awaitable[Any]] = field(default=asyncio.sleep, compare=False)

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        delay = min(self.base_delay * 2 ** (attempt - 1), self.max_delay)
        return delay + random.uniform(0, delay * self.jitter)


DEFAULT_RETRY = RetryPolicy()


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One TLS context per process. Loading the CA bundle takes ~100 ms (measured), which every
    new AsyncClient would otherwise pay again: on each turn's Celery task, twice."""
    return ssl.create_default_context(cafile=certifi.where())


def make_client(
    *,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """One AsyncClient per provider with explicit timeouts (connect capped at 5 s).

    Providers build absolute URLs from their settings base URL and pass their headers per
    request, so an injected client (tests, a shared pool) behaves exactly like this one.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        transport=transport,
        verify=tls_context(),
        follow_redirects=False,
    )


def retry_after_seconds(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (it may be a number or an HTTP date)."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def vendor_message(response: httpx.Response, secrets: Iterable[str | None] = ()) -> str:
    """The service's own explanation of an error, short and scrubbed.

    D-ID answers `{"kind": ..., "description": ...}`, HeyGen `{"code": ..., "message": ...}`.
    """
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        text = response.text
    else:
        text = ""
        if isinstance(body, dict):
            parts = []
            for key in ("kind", "description", "message", "error", "detail"):
                value = body.get(key)
                if isinstance(value, dict):
                    value = value.get("message") or value.get("description")
                if isinstance(value, str) and value and value not in parts:
                    parts.append(value)
            text = ": ".join(parts)
        if not text:
            text = json.dumps(body)
    return scrub(" ".join(text.split())[:300], secrets)


async def request_with_retries(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    provider: str,
    service: Service,
    json: Any = None,
    headers: dict[str, str] | None = None,
    secrets: Iterable[str | None] = (),
    retry: RetryPolicy = DEFAULT_RETRY,
) -> httpx.Response:
    """Send one request, retrying transient failures; return the 2xx response or raise.

    `url` may be absolute or relative to the client's base URL; `headers` (auth included) are
    sent with the request and never logged. Raises ProviderUnavailable (network error, timeout or
    5xx after the last attempt), ProviderRateLimited (429 that did not clear) or ProviderRejected
    (any other 4xx).
    """
    secrets = tuple(secrets)
    path = httpx.URL(url).path  # what we log: no host, no query string
    attempt = 0
    while True:
        attempt += 1
        started = time.perf_counter()
        try:
            response = await client.request(method, url, json=json, headers=headers)
        except httpx.TransportError as exc:
            elapsed = (time.perf_counter() - started) * 1000
            reason = scrub(f"{type(exc).__name__}: {exc}", secrets)
            if attempt < retry.attempts:
                delay = retry.backoff(attempt)
                log.warning(
                    "%s %s %s failed after %.0f ms (%s); retry %d/%d in %.2fs",
                    provider,
                    method,
                    path,
                    elapsed,
                    reason,
                    attempt,
                    retry.attempts - 1,
                    delay,
                )
                await retry.sleep(delay)
                continue
            log.warning(
                "%s %s %s failed after %d attempts (%s)", provider, method, path, attempt, reason
            )
            raise unavailable(
                provider=provider, service=service, vendor_message=type(exc).__name__
            ) from None

        elapsed = (time.perf_counter() - started) * 1000
        status = response.status_code
        if status < 400:
            log.debug("%s %s %s -> %d in %.0f ms", provider, method, path, status, elapsed)
            return response

        message = vendor_message(response, secrets)
        transient = status == 429 or status >= 500
        if transient and attempt < retry.attempts:
            delay = retry.backoff(attempt)
            if status == 429:
                wait = retry_after_seconds(response)
                if wait is not None and wait > retry.max_retry_after:
                    log.warning(
                        "%s %s %s -> 429, retry after %.0fs is too long for a live session",
                        provider,
                        method,
                        path,
                        wait,
                    )
                    raise _error_for(status, provider, service, message, wait)
                if wait is not None:
                    delay = max(delay, wait)
            log.warning(
                "%s %s %s -> %d in %.0f ms (%s); retry %d/%d in %.2fs",
                provider,
                method,
                path,
                status,
                elapsed,
                message,
                attempt,
                retry.attempts - 1,
                delay,
            )
            await retry.sleep(delay)
            continue

        log.warning(
            "%s %s %s -> %d in %.0f ms (%s)", provider, method, path, status, elapsed, message
        )
        raise _error_for(status, provider, service, message, retry_after_seconds(response))


def _error_for(
    status: int, provider: str, service: Service, message: str, retry_after: float | None
) -> ProviderError:
    if status >= 500:
        return unavailable(
            provider=provider, service=service, status=status, vendor_message=message
        )
    return rejection(
        status, provider=provider, service=service, vendor_message=message, retry_after=retry_after
    )


def json_body(response: httpx.Response, *, provider: str, service: Service) -> dict:
    """The response's JSON object; an empty dict for an empty body; ProviderError if garbled."""
    if not response.content:
        return {}
    try:
        body = response.json()
    except ValueError:
        raise bad_response(
            "sent an answer we could not read",
            provider=provider,
            service=service,
            status=response.status_code,
        ) from None
    return body if isinstance(body, dict) else {"data": body}


class JsonApi:
    """Mixin for a vendor client that has `client`, `retry`, `name`, `service`, `_api_key` and
    `_headers`: one request through `request_with_retries`, its JSON body read with `json_body`."""

    async def _send_json(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None,
        *,
        headers: dict[str, str] | None = None,
        secrets: tuple[str | None, ...] | None = None,
    ) -> tuple[httpx.Response, dict]:
        """(response, its JSON object); the key is scrubbed from whatever goes into errors."""
        response = await request_with_retries(
            self.client,
            method,
            url,
            provider=self.name,
            service=self.service,
            json=body,
            headers=self._headers if headers is None else headers,
            secrets=(self._api_key,) if secrets is None else secrets,
            retry=self.retry,
        )
        return response, json_body(response, provider=self.name, service=self.service)
