"""Which socket a conversation is attached to, across daphne processes.

A dropped WebSocket is not a closed tab: the page reconnects within seconds. So a disconnect
only detaches the conversation, and the Celery task `end_abandoned` ends it after a grace period
unless a socket has attached again meanwhile.

One socket holds a conversation at a time. A second one takes it over (`take`): the first is
told to leave, and the provider stream is opened and closed only under `stream_lock`, so one
conversation never has two streams, whichever daphne process each socket is on.

A restarted Redis has lost both the attachment and the socket's channel-layer group membership
(so replies published to the group no longer reach it): a live socket `rejoin`s, idempotently,
on each ping, on each avatar event (a reply is being spoken) and before each reply it asks for.
"""

from __future__ import annotations

import logging

from redis.asyncio.lock import Lock
from redis.exceptions import RedisError

from .redis_client import client

log = logging.getLogger(__name__)

_TTL_SECONDS = 24 * 3600


def _key(conversation_id) -> str:
    return f"livepersona:attached:{conversation_id}"


async def take(conversation_id, channel_name: str) -> str | None:
    """Attach `channel_name` and return the socket it took the conversation from, if any
    (one atomic SET ... GET, so two sockets arriving together cannot both see it free)."""
    previous = await client().set(_key(conversation_id), channel_name, ex=_TTL_SECONDS, get=True)
    if previous is None:
        return None
    previous = previous.decode()
    return previous if previous != channel_name else None


async def holder(conversation_id) -> str | None:
    value = await client().get(_key(conversation_id))
    return value.decode() if value is not None else None


# Compare-and-delete in one step: a takeover between a GET and a DEL must not be undone.
_DETACH = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


async def detach(conversation_id, channel_name: str) -> None:
    """Forget the attachment if it is still ours (a newer socket may have taken over)."""
    await client().eval(_DETACH, 1, _key(conversation_id), channel_name)


# Write the attachment back only if it is gone (2) or already ours (1): a newer socket that
# took the conversation over keeps it (0).
_REASSERT = """
local held = redis.call('get', KEYS[1])
if held == false or held == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'EX', ARGV[2])
  if held == false then return 2 end
  return 1
end
return 0
"""
LOST, HELD, TAKEN = 2, 1, 0


async def reassert(conversation_id, channel_name: str) -> int:
    """Attach `channel_name` again if Redis lost the attachment: LOST (written back), HELD
    (it was there), or TAKEN (another socket holds the conversation now)."""
    return int(await client().eval(
        _REASSERT, 1, _key(conversation_id), channel_name, _TTL_SECONDS
    ))


async def rejoin(channel_layer, group: str, conversation_id, channel_name: str) -> bool:
    """Re-join the conversation's group and re-assert the attachment, both idempotent: a no-op
    while Redis keeps them, a repair after it restarted empty. True when the attachment had
    been lost (so group messages may have been missed meanwhile); False otherwise, and while
    Redis is unreachable (logged; the socket's next ping tries again)."""
    try:
        await channel_layer.group_add(group, channel_name)
        held = await reassert(conversation_id, channel_name)
    except (RedisError, OSError) as exc:
        log.warning("conversation %s: could not re-join its group: %r", conversation_id, exc)
        return False
    if held == TAKEN:
        log.info("conversation %s: held by another socket, not re-attached", conversation_id)
    elif held == LOST:
        log.warning("conversation %s: its attachment was lost (Redis restarted?); re-joined",
                    conversation_id)
    return held == LOST


async def is_attached(conversation_id) -> bool:
    return bool(await client().exists(_key(conversation_id)))


def stream_lock(conversation_id, *, hold_for: float) -> Lock:
    """Held while a socket closes the conversation's old stream and opens its new one. Expires
    after `hold_for` seconds, so a daphne process killed while holding it blocks no one for good."""
    return client().lock(
        f"livepersona:stream-lock:{conversation_id}", timeout=hold_for, blocking_timeout=hold_for
    )
