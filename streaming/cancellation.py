"""Barge-in across processes: the consumer marks a reply cancelled, the Celery task polls the mark.

A Redis key rather than Celery's revoke(terminate=True): terminating a prefork child mid-reply
would lose the partial text we must save, and revoke cannot reach a task that already started.
"""

from __future__ import annotations

import redis.asyncio as aioredis
from django.conf import settings

_TTL_SECONDS = 600
_clients: dict[int, aioredis.Redis] = {}


def _client() -> aioredis.Redis:
    import asyncio

    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None:
        # One client per event loop: Celery runs each task in its own asyncio.run().
        client = _clients[loop_id] = aioredis.from_url(settings.REDIS_URL)
    return client


def _key(conversation_id, reply_to: int) -> str:
    # The conversation's UUID makes the key unique even where message ids restart (a new database).
    return f"livepersona:cancel-reply:{conversation_id}:{reply_to}"


async def cancel(conversation_id, *, reply_to: int) -> None:
    await _client().set(_key(conversation_id, reply_to), 1, ex=_TTL_SECONDS)


async def is_cancelled(conversation_id, *, reply_to: int) -> bool:
    return bool(await _client().exists(_key(conversation_id, reply_to)))


async def close() -> None:
    import asyncio

    client = _clients.pop(id(asyncio.get_running_loop()), None)
    if client is not None:
        await client.aclose()
