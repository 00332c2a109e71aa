"""Retries for every Redis client of the product (channel layer, cache, presence, start locks).

redis-py's clients retry nothing by default (`Retry(..., 0)`). After a Redis restart every
pooled connection is dead, and the first command on each one fails with "Connection closed by
server": a live socket's channel-layer call crashed its consumer (close 1011) and a session
start was refused, once per stale connection. Three quick retries on connection errors
reconnect instead (https://redis.readthedocs.io/en/stable/retry.html).
"""

from __future__ import annotations

from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

RETRIES = 3
# 0.1 s, 0.2 s, 0.4 s: a restarted Redis answers within a second, and a caller on a live
# socket never waits much longer than that.
BACKOFF = {"base": 0.1, "cap": 1.0}


def sync_retry() -> Retry:
    return Retry(ExponentialBackoff(**BACKOFF), RETRIES)


def async_retry() -> AsyncRetry:
    return AsyncRetry(ExponentialBackoff(**BACKOFF), RETRIES)
