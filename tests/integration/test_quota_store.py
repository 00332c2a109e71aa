"""Quotas counted in the real Redis, per user: a new socket (a reconnect) starts from the same
count, another user from their own."""

import uuid

import pytest

from streaming import quota_store

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def user_id():
    return f"test-{uuid.uuid4().hex[:8]}"  # fresh keys: nothing left from another run


async def test_turn_rate_is_per_user_and_survives_a_reconnect(settings, user_id):
    settings.CHAT_MESSAGES_PER_MINUTE = 3
    # Two sockets of the same user are two consumers calling the store: one count.
    assert [await quota_store.spend(user_id, "chat_turns") for _ in range(3)] == [None] * 3
    refusal = await quota_store.spend(user_id, "chat_turns")
    assert refusal.code == "chat_rate_limited" and 1 <= refusal.retry_after <= 60
    assert await quota_store.spend(f"{user_id}-other", "chat_turns") is None


async def test_a_budget_counts_the_cost_and_refuses_once_spent(settings, user_id):
    settings.LLM_TOKENS_PER_DAY = 1000
    assert await quota_store.check(user_id, "llm_tokens") is None
    assert await quota_store.spend(user_id, "llm_tokens", 600) is None
    assert await quota_store.check(user_id, "llm_tokens") is None
    # The cost of a reply is known only afterwards: it is counted even past the budget...
    assert (await quota_store.spend(user_id, "llm_tokens", 700)).code == "token_quota"
    # ...and the next reply is refused before the LLM is called.
    refusal = await quota_store.check(user_id, "llm_tokens")
    assert refusal.code == "token_quota" and "renews in" in refusal.message
    assert refusal.retry_after > 23 * 3600


async def test_audio_budget_in_milliseconds(settings, user_id):
    settings.AUDIO_SECONDS_PER_DAY = 2
    assert await quota_store.spend(user_id, "audio_ms", 1000) is None
    assert await quota_store.spend(user_id, "audio_ms", 1000) is None
    assert (await quota_store.spend(user_id, "audio_ms", 1000)).code == "audio_quota"


async def test_signaling_frames_are_limited(settings, user_id):
    settings.SIGNALING_FRAMES_PER_MINUTE = 10
    results = [await quota_store.spend(user_id, "signaling") for _ in range(11)]
    assert results[:10] == [None] * 10 and results[10].code == "signaling_rate_limited"


async def test_an_unreachable_redis_lets_the_use_through(settings, user_id, caplog):
    from streaming import quota_store as store

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    store._limiters.clear()
    from streaming import redis_client

    redis_client._clients.clear()
    try:
        assert await quota_store.spend(user_id, "chat_turns") is None
        assert "not counted" in caplog.text
    finally:
        store._limiters.clear()
        redis_client._clients.clear()
