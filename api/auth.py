"""Who is calling: a program with an API token, or the browser with its session."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from .errors import ApiError
from .models import ApiToken, TokenRejected

log = logging.getLogger(__name__)


class ApiTokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`. A token that is present but unknown or revoked is a 401
    with its own code, rather than falling back to the session."""

    def authenticate(self, request: HttpRequest, token: str):
        try:
            api_token = ApiToken.authenticate(token)
        except TokenRejected as exc:
            log.info("API %s %s: %s", request.method, request.path, exc.code)
            raise ApiError(401, exc.code, exc.message) from None
        request.user = api_token.user
        return api_token.user


class BrowserSession(APIKeyCookie):
    """Django's session, for the browser. Checked for CSRF only once we know the session is
    signed in, so that an anonymous caller gets 401 rather than a CSRF 403."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None
        if not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise HttpError(403, "CSRF check failed: send the csrftoken cookie's value as X-CSRFToken.")
        return user

    def authenticate(self, request: HttpRequest, key: str | None):  # pragma: no cover - __call__
        return None


def require_staff(request: HttpRequest) -> None:
    if not request.user.is_staff:
        raise ApiError(403, "staff_only", "Only staff may do this.")
