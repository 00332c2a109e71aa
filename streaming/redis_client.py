"""One asyncio Redis client per event loop, for the small shared marks live sessions keep."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from django.conf import settings

from config.redis_retry import async_retry

_clients: dict[int, aioredis.Redis] = {}


def client() -> aioredis.Redis:
    # Per loop: daphne has its loop, the Celery worker its task loop, tests their own.
    loop_id = id(asyncio.get_running_loop())
    found = _clients.get(loop_id)
    if found is None:
        found = _clients[loop_id] = aioredis.from_url(settings.REDIS_URL, retry=async_retry())
    return found

