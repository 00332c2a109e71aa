"""Our own small exception hierarchy for the cloud (or local-engine) services.

The consumer and the Celery tasks catch these, not httpx's or a vendor SDK's, so they can tell
the user what happened (`message`, safe to show) and decide what to do (`code`, `retryable`).
Every error names the service that failed: its code is `{service}_{kind}` from
streaming/error_codes.py (`stt_unavailable`, `llm_auth`, `avatar_quota`, ...).
No exception built here ever carries an API key: vendor messages are scrubbed before they are
stored, and request headers are never copied in.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..error_codes import Service, has_kind, provider_code

REDACTED = "<redacted>"


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with every secret (API key, token) replaced, so it is safe to log or show."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


class ProviderError(Exception):
    """Something went wrong talking to an avatar, speech or language service.

    `kind` (unavailable, rate_limited, auth, quota, rejected, not_found, not_configured, error)
    says what; `service` says who; together they make `code`, one of error_codes.CODES.
    """

    kind = "error"
    retryable = False

    def __init__(
        self,
        message: str,
        *,
        service: Service,
        provider: str = "",
        kind: str | None = None,
        status: int | None = None,
        vendor_message: str = "",
    ) -> None:
        self.message = message
        self.service = service
        self.provider = provider
        self.status = status
        self.vendor_message = vendor_message
        if kind is not None:
            self.kind = kind
        self.code = provider_code(service.key, self.kind)
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

    kind = "unavailable"
    retryable = True


class ProviderRejected(ProviderError):
    """The service answered 4xx: our request, our credentials or our quota is the problem.

    `status` is the HTTP status and `vendor_message` the service's own explanation (scrubbed).
    """

    kind = "rejected"


class ProviderRateLimited(ProviderRejected):
    """429 that did not clear within our retries; `retry_after` (seconds) if the service said."""

    kind = "rate_limited"
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs) -> None:
        kwargs.setdefault("status", 429)
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


# The kind and the wording for each rejection, by status. "not_found" (the session is gone) only
# for services that hold sessions; for the others a 404 is a wrong URL or model: "rejected".
_REJECTIONS: dict[int, tuple[str, str]] = {
    400: ("rejected", "The {service} did not accept our request."),
    401: ("auth", "The {service} rejected our credentials."),
    402: ("quota", "The {service} account has run out of credits."),
    403: ("auth", "The {service} does not allow this for our account."),
    404: ("not_found", "The {service} no longer knows this session."),
    409: ("rejected", "The {service} is busy with this session."),
    410: ("not_found", "The {service} no longer knows this session."),
    422: ("rejected", "The {service} did not accept our request."),
}


def rejection(
    status: int,
    *,
    provider: str,
    service: Service,
    vendor_message: str = "",
    retry_after: float | None = None,
) -> ProviderRejected:
    """The right ProviderRejected (or ProviderRateLimited) for a 4xx answer."""
    if status == 429:
        return ProviderRateLimited(
            f"The {service} is receiving too many requests; please try again shortly.",
            provider=provider,
            service=service,
            vendor_message=vendor_message,
            retry_after=retry_after,
        )
    kind, template = _REJECTIONS.get(status, ("rejected", "The {service} refused our request."))
    if not has_kind(service.key, kind):
        kind, template = "rejected", "The {service} refused our request."
    return ProviderRejected(
        template.format(service=service),
        provider=provider,
        service=service,
        kind=kind,
        status=status,
        vendor_message=vendor_message,
    )


def unavailable(
    *, provider: str, service: Service, status: int | None = None, vendor_message: str = ""
) -> ProviderUnavailable:
    return ProviderUnavailable(
        f"The {service} is not reachable right now; please try again in a moment.",
        provider=provider,
        service=service,
        status=status,
        vendor_message=vendor_message,
    )


def bad_response(
    what: str, *, provider: str, service: Service, status: int | None = None
) -> ProviderError:
    """The service answered 2xx with something we cannot use (`what` it failed to return)."""
    return ProviderError(
        f"The {service} {what}.", provider=provider, service=service, status=status
    )
