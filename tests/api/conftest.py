"""API test helpers: token-authenticated clients, and a private cache per test so that request
counts (throttles) never leak from one test into another."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client


@pytest.fixture(autouse=True)
def _private_cache(settings):
    # Fast password hashing: these tests create several users each.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": f"api-test-{uuid.uuid4().hex}",
        }
    }


@pytest.fixture
def token_for():
    from api.models import ApiToken

    def issue(user, name: str = "test") -> str:
        return ApiToken.issue(user, name)[1]

    return issue


@pytest.fixture
def api_as(token_for):
    """`api_as(user)`: a test client sending that user's (fresh) API token."""

    def make(user=None, *, token: str | None = None) -> Client:
        if user is None and token is None:
            return Client()
        return Client(headers={"Authorization": f"Bearer {token or token_for(user)}"})

    return make


def error_of(response) -> tuple[int, str]:
    """(status, error code) of an API answer, checking the error shape on the way."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return response.status_code, body["error"]["code"]
