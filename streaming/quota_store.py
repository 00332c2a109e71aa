"""The quotas of `quotas`, counted in Redis per user (so a reconnect resets nothing).

Counting is the `limits` library's: its Redis strategies are atomic Lua scripts (a moving window
for turn rates, a fixed window with INCRBY for daily budgets), kept and tested upstream.

A quota store that cannot reach Redis lets the use through and logs it: these are abuse
controls, and the live session cannot work without Redis anyway.

The consumer's calls (each refusal goes to the page as `refusal.as_error()`):
    chat.text              await spend(user.pk, "chat_turns")
    a finished utterance   await spend(user.pk, "voice_turns")
    rtc.answer / rtc.ice   await spend(user.pk, "signaling")
    audio frames           ms = meter.add(len(pcm))  (a quotas.AudioMeter per socket), then
                           if ms: await spend(user.pk, "audio_ms", ms)
LLM tokens are checked and counted by the reply itself (replies.generate) and by a cancelled
preemptive reply (streaming/preemptive.py); concurrent sessions
and the vendor-account cap by conversations.services.start_conversation.
"""

from __future__ import annotations

import asyncio
import logging
import time

from django.conf import settings
from limits import RateLimitItemPerDay, RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from . import quotas
from .quotas import Quota, Refusal
from .redis_client import client

log = logging.getLogger(__name__)

_limiters: dict[tuple, tuple[MovingWindowRateLimiter, FixedWindowRateLimiter]] = {}


def _limiters_for_loop() -> tuple[MovingWindowRateLimiter, FixedWindowRateLimiter]:
    # One storage per event loop, on the loop's Redis connection pool (asyncio connections
    # belong to the loop that opened them: daphne's, the Celery task loop, each test's).
    key = (id(asyncio.get_running_loop()), settings.REDIS_URL, settings.QUOTA_KEY_PREFIX)
    found = _limiters.get(key)
    if found is None:
        storage = RedisStorage(
            "async+" + settings.REDIS_URL, implementation="redispy",
            key_prefix=settings.QUOTA_KEY_PREFIX, connection_pool=client().connection_pool,
        )
        found = _limiters[key] = (MovingWindowRateLimiter(storage), FixedWindowRateLimiter(storage))
    return found


def _item(quota: Quota):
    if quota.window == quotas.DAY:
        return RateLimitItemPerDay(quota.limit)
    return RateLimitItemPerMinute(quota.limit)


def _quota(name: str) -> Quota | None:
    return quotas.from_settings(settings).get(name)


async def _refusal(limiter, quota: Quota, user_id) -> Refusal:
    stats = await limiter.get_window_stats(_item(quota), quota.name, str(user_id))
    return quotas.refusal(quota, stats.reset_time - time.time())


async def spend(user_id, name: str, amount: int = 1) -> Refusal | None:
    """Count `amount` against the user's quota `name`; a Refusal when it is used up.

    A rate (turns per minute) refuses the use that would go over, and does not count it. A
    budget (audio, tokens per day) counts what was used even past the limit, since the cost is
    known only afterwards, and refuses from then on."""
    quota = _quota(name)
    if quota is None or amount <= 0:
        return None
    moving, fixed = _limiters_for_loop()
    limiter = fixed if quota.budget else moving
    try:
        if await limiter.hit(_item(quota), quota.name, str(user_id), cost=amount):
            return None
        return await _refusal(limiter, quota, user_id)
    except Exception as exc:  # Redis down: see the module docstring
        log.warning("quota %s of user %s not counted: %s", name, user_id, exc)
        return None


async def check(user_id, name: str) -> Refusal | None:
    """A Refusal when the user's quota `name` is used up, without counting anything."""
    quota = _quota(name)
    if quota is None:
        return None
    moving, fixed = _limiters_for_loop()
    limiter = fixed if quota.budget else moving
    try:
        if await limiter.test(_item(quota), quota.name, str(user_id)):
            return None
        return await _refusal(limiter, quota, user_id)
    except Exception as exc:
        log.warning("quota %s of user %s not checked: %s", name, user_id, exc)
        return None


async def reset(user_id, name: str) -> None:
    """Forget a user's use of quota `name` (admin action, tests)."""
    quota = _quota(name)
    if quota is not None:
        moving, fixed = _limiters_for_loop()
        await (fixed if quota.budget else moving).clear(_item(quota), quota.name, str(user_id))
