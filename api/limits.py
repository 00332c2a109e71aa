"""Per-user request quotas, counted in the Django cache (Redis), so that every daphne process
shares them. Rates are read from settings when checked, not frozen at import."""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.conf import settings
from django.http import HttpRequest
from ninja.errors import Throttled
from ninja.throttling import SimpleRateThrottle


class UserRateThrottle(SimpleRateThrottle):
    """`setting` names a per-minute count, e.g. CHAT_MESSAGES_PER_MINUTE (the WebSocket's own
    quota for typed messages), keyed by the caller's user id whichever way they signed in."""

    def __init__(self, setting: str) -> None:  # no super(): the rate is read per request
        self.setting = setting
        self.scope = setting.lower()

    def allow_request(self, request: HttpRequest) -> bool:
        self.rate = f"{getattr(settings, self.setting)}/m"
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)

    def get_cache_key(self, request: HttpRequest) -> str | None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return None  # unauthenticated requests are refused before they are counted
        return self.cache_format % {"scope": self.scope, "ident": user.pk}


def every_request() -> UserRateThrottle:
    return UserRateThrottle("API_REQUESTS_PER_MINUTE")


async def enforce(request: HttpRequest, throttle: UserRateThrottle) -> None:
    """For async views: count the request off the event loop (the cache is a network call)."""
    if not await sync_to_async(throttle.allow_request)(request):
        raise Throttled(wait=throttle.wait())
