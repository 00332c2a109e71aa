"""Barge-in across processes: the consumer marks a reply cancelled, the Celery task polls the mark.

A Redis key rather than Celery's revoke(terminate=True): terminating a prefork child mid-reply
would lose the partial text we must save, and revoke cannot reach a task that already started.
"""

from __future__ import annotations

from .redis_client import client

_TTL_SECONDS = 600


def _key(conversation_id, reply_to: int) -> str:
    # The conversation's UUID makes the key unique even where message ids restart (a new database).
    return f"livepersona:cancel-reply:{conversation_id}:{reply_to}"


async def cancel(conversation_id, *, reply_to: int) -> None:
    await client().set(_key(conversation_id, reply_to), 1, ex=_TTL_SECONDS)


async def is_cancelled(conversation_id, *, reply_to: int) -> bool:
    return bool(await client().exists(_key(conversation_id, reply_to)))
