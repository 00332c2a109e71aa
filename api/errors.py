"""Every API error is `{"error": {"code", "message"}}` with its HTTP status, never a traceback.

Installed on the NinjaAPI by `install(api)`; `json_errors` wraps the URL patterns too, for the
few answers that Django Ninja builds without its handlers (405) and for unknown API paths.
"""

from __future__ import annotations

import functools
import inspect
import logging

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from streaming.providers.errors import ProviderError, ProviderUnavailable

log = logging.getLogger(__name__)

CODES_BY_STATUS = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid_input",
    429: "throttled",
}


class ApiError(Exception):
    """An answer with a specific code, raised from a view or a service it calls."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_response(status: int, code: str, message: str, **extra) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "message": message, **extra}}, status=status)


def _field(error: dict) -> str:
    # ("body", "payload", "text") -> "text"; query and path parameters keep their own name.
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
    return ".".join(loc) or "body"


def _validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    fields = [{"field": _field(e), "message": e.get("msg", "")} for e in exc.errors]
    types = {e.get("type", "") for e in exc.errors}
    too_long = types & {"string_too_long", "too_long"}
    code = "too_large" if too_long else "bad_json" if "json_invalid" in types else "invalid_input"
    first = fields[0] if fields else {"field": "body", "message": "invalid"}
    log.info("API %s %s refused: %s %s", request.method, request.path, code, fields[:3])
    return error_response(422, code, f"{first['field']}: {first['message']}", fields=fields)


def _authentication(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    log.info("API %s %s: not authenticated", request.method, request.path)
    return error_response(
        401, "not_authenticated",
        "Send an API token as 'Authorization: Bearer <token>' (or sign in).",
    )


def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    log.info("API %s %s throttled for user %s", request.method, request.path,
             getattr(request.user, "pk", None))
    return error_response(429, "throttled", "Too many requests; slow down and retry later.")


def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    """Over Django's DATA_UPLOAD_MAX_MEMORY_SIZE."""
    log.info("API %s %s: body too large", request.method, request.path)
    return error_response(413, "too_large", "The request body is too large.")


def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, RequestDataTooBig):
        return _too_big(request, exc.__cause__)
    code = CODES_BY_STATUS.get(exc.status_code, "error")
    if exc.status_code == 403 and "CSRF" in exc.message:
        code = "csrf_failed"
    elif exc.status_code == 400 and exc.message.startswith("Cannot parse request body"):
        code = "bad_json"
    log.info("API %s %s: %s %s", request.method, request.path, exc.status_code, code)
    return error_response(exc.status_code, code, exc.message)


def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    log.info("API %s %s: %s %s", request.method, request.path, exc.status, exc.code)
    return error_response(exc.status, exc.code, exc.message)


def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    log.info("API %s %s: not found", request.method, request.path)
    return error_response(404, "not_found", "No such object (or it is not yours).")


def _provider(request: HttpRequest, exc: ProviderError) -> HttpResponse:
    log.warning("API %s %s: provider error %s: %s", request.method, request.path, exc.code, exc)
    status = 503 if isinstance(exc, ProviderUnavailable) else 502
    return error_response(status, exc.code, exc.message)


def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    log.exception("API %s %s failed", request.method, request.path)
    return error_response(500, "server_error", "Something went wrong on our side.")


def install(api) -> None:
    for exc_class, handler in (
        (ValidationError, _validation),
        (AuthenticationError, _authentication),
        (Throttled, _throttled),
        (HttpError, _http_error),
        (ApiError, _api_error),
        (Http404, _not_found),
        (RequestDataTooBig, _too_big),
        (ProviderError, _provider),
        (Exception, _unexpected),
    ):
        api.add_exception_handler(exc_class, handler)


def _envelope(response: HttpResponse) -> HttpResponse:
    """Django Ninja answers a wrong method with a plain-text 405: give it our shape."""
    if response.status_code == 405 and not response.get("Content-Type", "").startswith(
        "application/json"
    ):
        wrapped = error_response(405, "method_not_allowed", "This method is not allowed here.")
        wrapped["Allow"] = response.get("Allow", "")
        return wrapped
    return response


def json_errors(view):
    """Wrap a URL pattern's view (sync or async) so every answer keeps the error shape."""
    if inspect.iscoroutinefunction(view):

        @functools.wraps(view)
        async def async_wrapper(request, *args, **kwargs):
            return _envelope(await view(request, *args, **kwargs))

        return async_wrapper

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        return _envelope(view(request, *args, **kwargs))

    return wrapper


def unknown_route(request: HttpRequest, rest: str = "") -> HttpResponse:
    log.info("API %s %s: no such route", request.method, request.path)
    return error_response(404, "not_found", f"There is no API route {request.path!r}.")
