"""Starting sessions concurrently: the per-user limit and the vendor account's cap hold under a
burst of simultaneous starts, on SQLite and PostgreSQL, and a refusal is a clear answer (429 or
503 with a code), never a 500.

The vendor account's cap (PROVIDER_SESSION_LIMITS, with HEYGEN_MAX_SESSIONS as a deprecated
alias of its "heygen" entry) is the one cap on concurrent provider sessions: it is checked here,
when a conversation starts, for the page and the JSON API alike.
"""

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test import Client

from avatars.models import Avatar
from conversations.models import Conversation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]


def start_many(user, avatar, count: int) -> list[tuple[int, dict]]:
    """`count` POSTs to the start URL at once, each from its own thread and connection."""

    def start(_):
        client = Client()
        client.force_login(user)
        try:
            response = client.post(f"/talk/{avatar.slug}/sessions/")
            return response.status_code, response.json()
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(start, range(count)))


def test_six_simultaneous_starts_give_three_sessions_and_three_clear_refusals(settings, alice, avatar):
    settings.MAX_LIVE_SESSIONS_PER_USER = 3
    results = start_many(alice, avatar, 6)
    statuses = sorted(status for status, _ in results)
    assert statuses == [201, 201, 201, 429, 429, 429], results
    refusals = [body for status, body in results if status == 429]
    assert {body["error"] for body in refusals} == {"session_limit"}
    assert all("3 live conversations" in body["message"] for body in refusals)
    assert Conversation.objects.owned_by(alice).live().count() == 3


def test_the_vendor_account_cap_counts_every_user(settings, django_user_model, avatar):
    settings.PROVIDER_SESSION_LIMITS = {"did": 2}
    users = [django_user_model.objects.create_user(f"u{i}", password="pw-123456") for i in range(3)]
    outcomes = []
    with ThreadPoolExecutor(max_workers=3) as pool:
        outcomes = list(pool.map(lambda user: start_many(user, avatar, 1)[0], users))
    assert sorted(status for status, _ in outcomes) == [201, 201, 429]
    [refused] = [body for status, body in outcomes if status == 429]
    assert refused["error"] == "avatar_busy" and refused["retry_after"] == 60
    assert Conversation.objects.live().count() == 2


def test_an_ended_session_frees_its_place(settings, alice, avatar):
    settings.MAX_LIVE_SESSIONS_PER_USER = 1
    [(status, body)] = start_many(alice, avatar, 1)
    assert status == 201
    assert start_many(alice, avatar, 1)[0][0] == 429
    Conversation.objects.get(pk=body["conversation"]).end(Conversation.EndReason.USER)
    assert start_many(alice, avatar, 1)[0][0] == 201


def test_without_redis_a_start_is_refused_with_503(settings, alice, avatar, caplog):
    from conversations import services

    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    services._redis.cache_clear()
    try:
        [(status, body)] = start_many(alice, avatar, 1)
    finally:
        services._redis.cache_clear()
    assert status == 503 and body["error"] == "server_unavailable"
    assert "Redis unavailable" in caplog.text
    assert not Conversation.objects.exists()


def test_the_heygen_account_refuses_its_fourth_session_with_avatar_busy(
    settings, django_user_model, avatar
):
    settings.PROVIDER_SESSION_LIMITS = {"heygen": 3}
    wayne = Avatar.objects.create(name="Wayne", slug="wayne", provider="heygen",
                                  persona=avatar.persona, heygen_avatar_name="Wayne_20240711")
    users = [django_user_model.objects.create_user(f"h{i}", password="pw-123456") for i in range(4)]
    outcomes = [start_many(user, wayne, 1)[0] for user in users]
    assert [status for status, _ in outcomes] == [201, 201, 201, 429], outcomes
    assert outcomes[-1][1]["error"] == "avatar_busy"
    # Another vendor account is not held back by HeyGen's.
    assert start_many(users[-1], avatar, 1)[0][0] == 201


def test_d_ids_three_apis_count_against_one_account(settings, alice, bob, avatar):
    settings.PROVIDER_SESSION_LIMITS = {"did": 1}
    clips = Avatar.objects.create(name="Clip", slug="clip", provider="did_clips",
                                  persona=avatar.persona, voice=avatar.voice,
                                  presenter_id="amy-jcwCkr1grs")
    assert start_many(alice, avatar, 1)[0][0] == 201
    [(status, body)] = start_many(bob, clips, 1)
    assert status == 429 and body["error"] == "avatar_busy"


def test_a_zero_cap_is_no_cap(settings, django_user_model, avatar):
    settings.PROVIDER_SESSION_LIMITS = {"did": 0}
    users = [django_user_model.objects.create_user(f"z{i}", password="pw-123456") for i in range(3)]
    assert [start_many(user, avatar, 1)[0][0] for user in users] == [201, 201, 201]


def test_heygen_max_sessions_is_read_as_the_heygen_entry_of_the_limits():
    """The deprecated name still works: settings fold it into PROVIDER_SESSION_LIMITS."""
    code = "from django.conf import settings; print(settings.PROVIDER_SESSION_LIMITS)"
    env = {**os.environ, "HEYGEN_MAX_SESSIONS": "5", "PROVIDER_SESSION_LIMITS": '{"did": 2}',
           "SECRET_KEY": "only-for-reading-settings-in-a-test",
           "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run([sys.executable, "-c", "import django; django.setup(); " + code],
                         env=env, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "{'did': 2, 'heygen': 5}"
