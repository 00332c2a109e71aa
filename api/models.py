"""Per-user API tokens. Only a digest is stored: the secret is shown once, when it is issued."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

SECRET_PREFIX = "lp_"
SHOWN_PREFIX_CHARS = 10  # "lp_" + 7 characters: enough to tell tokens apart in a list
LAST_USED_RESOLUTION = timedelta(minutes=1)  # one write a minute, not one per request


def digest(secret: str) -> str:
    """SHA-256 rather than a password hash: the secrets are 256 random bits, so a slow hash
    would add nothing against guessing, and every API request has to compute it."""
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenRejected(Exception):
    """The presented token is unknown or revoked; `code` tells which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ApiTokenQuerySet(models.QuerySet):
    def owned_by(self, user) -> ApiTokenQuerySet:
        return self.filter(user=user)

    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for, e.g. 'kiosk script'")
    prefix = models.CharField(max_length=SHOWN_PREFIX_CHARS, editable=False)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def set_new_secret(self) -> str:
        """Give this (unsaved) token a fresh secret and return it: the only time it is seen."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        self.prefix = secret[:SHOWN_PREFIX_CHARS]
        self.digest = digest(secret)
        return secret

    @classmethod
    def issue(cls, user, name: str) -> tuple[ApiToken, str]:
        token = cls(user=user, name=name)
        secret = token.set_new_secret()
        token.save()
        return token, secret

    @classmethod
    def authenticate(cls, secret: str) -> ApiToken:
        """The active token for `secret` (with its user), or TokenRejected."""
        token = (
            cls.objects.select_related("user").filter(digest=digest(secret.strip())).first()
            if secret
            else None
        )
        if token is None or not token.user.is_active:
            raise TokenRejected("invalid_token", "The API token is not valid.")
        if token.revoked_at is not None:
            raise TokenRejected("token_revoked", "The API token has been revoked.")
        now = timezone.now()
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token

    def revoke(self) -> bool:
        """Revoke once (a compare-and-set); False when it was already revoked."""
        updated = ApiToken.objects.filter(pk=self.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if updated:
            self.refresh_from_db(fields=["revoked_at"])
        return bool(updated)
