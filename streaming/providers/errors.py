"""Our own small exception hierarchy for the cloud (or local-engine) services.

The consumer and the Celery tasks catch these, not httpx's or a vendor SDK's, so they can tell
the user what happened (`message`, safe to show) and decide what to do (`code`, `retryable`).
No exception built here ever carries an API key: vendor messages are scrubbed before they are
stored, and request headers are never copied in.
"""

from __future__ import annotations

from collections.abc import Iterable

REDACTED = "<redacted>"


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every secret (API key, token) replaced, so it is safe to log or show."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


class ProviderError(Exception):
    """Something went wrong talking to an avatar, speech or language service."""

    code = "provider_error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        code: str | None = None,
        status: int | None = None,
        vendor_message: str = "",
    ) -> None:
        self.message = message
        self.provider = provider
        self.status = status
        self.vendor_message = vendor_message
        if code is not None:
            self.code = code
        super().__init__(message)

    def __str__(self) -> str:
        details = [f"status {self.status}"] if self.status is not None else []
        if self.vendor_message:
            details.append(self.vendor_message)
        return f"{self.message} ({'; '.join(details)})" if details else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, provider={self.provider!r}, status={self.status!r})"


class ProviderUnavailable(ProviderError):
    """The service could not be reached or kept failing (network error, timeout, 5xx) after retries."""

    code = "provider_unavailable"
    retryable = True


class ProviderRejected(ProviderError):
    """The service answered 4xx: our request, our credentials or our quota is the problem.

    `status` is the HTTP status and `vendor_message` the service's own explanation (scrubbed).
    """

    code = "provider_rejected"


class ProviderRateLimited(ProviderRejected):
    """429 that did not clear within our retries; `retry_after` (seconds) if the service said."""

    code = "provider_rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        kwargs.setdefault("status", 429)
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


# The user-facing wording and code for each rejection, by status.
_REJECTIONS: dict[int, tuple[str, str]] = {
    400: ("provider_bad_request", "The {service} did not accept our request."),
    401: ("provider_auth", "The {service} rejected our credentials."),
    402: ("provider_quota", "The {service} account has run out of credits."),
    403: ("provider_forbidden", "The {service} does not allow this for our account."),
    404: ("provider_not_found", "The {service} no longer knows this session."),
    409: ("provider_conflict", "The {service} is busy with this session."),
    410: ("provider_not_found", "The {service} no longer knows this session."),
    422: ("provider_bad_request", "The {service} did not accept our request."),
}


def rejection(
    status: int,
    *,
    provider: str,
    service: str,
    vendor_message: str = "",
    retry_after: float | None = None,
) -> ProviderRejected:
    """The right ProviderRejected (or ProviderRateLimited) for a 4xx answer."""
    if status == 429:
        return ProviderRateLimited(
            f"The {service} is receiving too many requests; please try again shortly.",
            provider=provider,
            vendor_message=vendor_message,
            retry_after=retry_after,
        )
    code, template = _REJECTIONS.get(
        status, ("provider_rejected", "The {service} refused our request.")
    )
    return ProviderRejected(
        template.format(service=service),
        provider=provider,
        code=code,
        status=status,
        vendor_message=vendor_message,
    )


def unavailable(
    *, provider: str, service: str, status: int | None = None, vendor_message: str = ""
) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"The {service} is not reachable right now; please try again in a moment.",
        provider=provider,
        status=status,
        vendor_message=vendor_message,
    )
