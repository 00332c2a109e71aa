"""Small service functions around conversations, shared by views, the consumer and tasks."""

from __future__ import annotations

import contextlib
import logging
from functools import cache

import redis
from django.conf import settings
from django.db import transaction
from django.db.models import Q

from avatars.models import Avatar
from config.redis_retry import sync_retry
from streaming import quotas
from streaming.session_checks import language_refusal
from streaming.stream_lifetimes import conversation_idle_timeout

from .models import Conversation

log = logging.getLogger(__name__)

LOCK_TIMEOUT = 10  # seconds a start may hold the lock (a crashed holder frees it after this)
LOCK_WAIT = 10


class SessionRefused(Exception):
    """A new live session was refused; `refusal` says why, for the page."""

    def __init__(self, refusal: quotas.Refusal, *, status: int = 429) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal
        self.status = status


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2,
                                retry=sync_retry())


@contextlib.contextmanager
def _start_lock(user, account: str):
    """Serialize session starts of one user and of one vendor account, across processes and
    on either database: the counts below and the insert must not interleave (on PostgreSQL
    two counts could both see room; on SQLite the two writers would collide). Redis locks
    rather than row locks because the vendor-account cap has no row to lock."""
    names = [f"livepersona:start-lock:user:{user.pk}", f"livepersona:start-lock:account:{account}"]
    held = []
    try:
        for name in names:  # always in this order: no deadlock between two starts
            lock = _redis().lock(name, timeout=LOCK_TIMEOUT, blocking_timeout=LOCK_WAIT)
            if not lock.acquire():
                raise SessionRefused(quotas.Refusal(
                    "server_busy", "The server is busy starting conversations. Try again.", 5
                ), status=503)
            held.append(lock)
        yield
    except redis.RedisError as exc:
        log.warning("session start of user %s refused: Redis unavailable: %s", user.pk, exc)
        raise SessionRefused(quotas.Refusal(
            "server_unavailable", "The server cannot start conversations right now. Try again "
            "in a minute.", 60), status=503) from None
    finally:
        for lock in reversed(held):
            with contextlib.suppress(redis.RedisError):  # expiry frees it anyway
                lock.release()


def _account_filter(account: str) -> Q:
    # Conversation.provider holds the avatar's provider ("did_talks", "heygen", ...).
    return Q(provider=account) | Q(provider__startswith=f"{account}_")


def start_conversation(user, avatar: Avatar) -> Conversation:
    """A new connecting conversation, refusing past the per-user live-session limit and the
    vendor account's concurrent-session cap; atomic against concurrent starts."""
    refusal = language_refusal(avatar)
    if refusal is not None:  # the services that would serve it don't speak its language
        log.info("session start of user %s refused: %s", user.pk, refusal.code)
        raise SessionRefused(refusal, status=422)
    account = quotas.provider_account(avatar.provider)
    with _start_lock(user, account), transaction.atomic():
        live = Conversation.objects.live()
        refusal = quotas.session_refusal(
            live.owned_by(user).count(), settings.MAX_LIVE_SESSIONS_PER_USER
        ) or quotas.provider_refusal(
            avatar.provider,
            live.filter(_account_filter(account)).count(),
            settings.PROVIDER_SESSION_LIMITS,
        )
        if refusal:
            log.info("session start of user %s refused: %s", user.pk, refusal.code)
            raise SessionRefused(refusal)
        return Conversation.objects.create(
            user=user,
            avatar=avatar,
            provider=avatar.provider,
            idle_timeout=conversation_idle_timeout(
                avatar.provider, avatar.session_timeout, settings.SESSION_IDLE_TIMEOUT
            ),
        )
