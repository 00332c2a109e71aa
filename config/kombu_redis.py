"""A Celery worker must outlive a Redis restart; kombu's Redis transport (5.7) can kill it.

When the broker connection drops, Celery collects the connection (the transport forgets its
kombu `Connection`) and then closes it. Closing a channel that still holds an unacknowledged
`acks_late` message (a reply in flight) restores that message, and the restore builds a new
Redis pool from the forgotten connection: `AttributeError: 'NoneType' object has no attribute
'hostname'`. That is not a connection error, so nothing catches it, and the worker exits with
"Unrecoverable error" (found by tests/e2e/test_faults.py).

`guard_collected_transport` makes that case the connection error it really is: the channel's
close swallows it as it swallows any other, the worker reconnects, and the message is not lost
(it stays in the broker's unacked set, which gives it back after `visibility_timeout`; the
reply's own idempotence then applies).
"""

from __future__ import annotations

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError

_original = kombu_redis.Channel._connparams


def _connparams(self, asynchronous: bool = False) -> dict:
    if self.connection.client is None:
        raise RedisConnectionError("the broker connection was already collected")
    return _original(self, asynchronous)


def guard_collected_transport() -> None:
    """Idempotent: patch kombu's Redis channel once per process."""
    kombu_redis.Channel._connparams = _connparams
