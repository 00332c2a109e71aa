"""Which socket a conversation is attached to, across daphne processes.

A dropped WebSocket is not a closed tab: the page reconnects within seconds. So a disconnect
only detaches the conversation, and the Celery task `end_abandoned` ends it after a grace period
unless a socket has attached again meanwhile.
"""

from __future__ import annotations

from .redis_client import client

_TTL_SECONDS = 24 * 3600


def _key(conversation_id) -> str:
    return f"livepersona:attached:{conversation_id}"


async def attach(conversation_id, channel_name: str) -> None:
    await client().set(_key(conversation_id), channel_name, ex=_TTL_SECONDS)


async def detach(conversation_id, channel_name: str) -> None:
    """Forget the attachment if it is still ours (a newer socket may have taken over)."""
    key = _key(conversation_id)
    redis = client()
    if (await redis.get(key) or b"").decode() == channel_name:
        await redis.delete(key)


async def is_attached(conversation_id) -> bool:
    return bool(await client().exists(_key(conversation_id)))
