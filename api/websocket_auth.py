"""API tokens for the session WebSocket, so that a program (not only a signed-in browser) can
attach to a conversation it started through the API."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from django.contrib.auth.models import AnonymousUser

from .models import ApiToken, TokenRejected


@database_sync_to_async
def _user_for(secret: str):
    try:
        return ApiToken.authenticate(secret).user
    except TokenRejected:
        return AnonymousUser()


class TokenAuthMiddleware(BaseMiddleware):
    """Put inside AuthMiddlewareStack: an `Authorization: Bearer` header replaces the session's
    user (a wrong token gives an anonymous user, whom the consumer refuses)."""

    async def __call__(self, scope, receive, send):
        header = dict(scope.get("headers") or ()).get(b"authorization", b"").decode("latin-1")
        scheme, _, secret = header.partition(" ")
        if scheme.lower() == "bearer":
            scope = dict(scope, user=await _user_for(secret.strip()))
        return await super().__call__(scope, receive, send)
