"""Each provider's idle timeout, in the one table the reaper and the keep-alive schedule read."""

from __future__ import annotations

import pytest

from streaming.stream_lifetimes import (
    KEEP_ALIVE_MARGIN,
    RENEW_MARGIN,
    conversation_idle_timeout,
    keep_alive_due,
    renewal_due_in,
    stream_idle_seconds,
)


@pytest.mark.parametrize(("provider", "session_timeout", "seconds"), [
    ("did_talks", 300, 300), ("did_talks", 180, 180), ("did_clips", None, 300),
    ("did_agents", 300, 120),  # agents streams end after 2 minutes, whatever the avatar asks
    ("heygen", 600, 600), ("heygen", 10, 30), ("heygen", None, 120), ("liveavatar", 60, 300),
    ("someone_new", 300, 120),  # an unknown provider gets the shortest known limit
])
def test_each_provider_keeps_an_idle_stream_as_long_as_it_documents(
    provider, session_timeout, seconds
):
    assert stream_idle_seconds(provider, session_timeout) == seconds


def test_agent_conversations_end_when_their_stream_would_sooner_than_talks():
    assert conversation_idle_timeout("did_agents", 300, ceiling=300) == 120
    assert conversation_idle_timeout("did_talks", 300, ceiling=300) == 300
    assert conversation_idle_timeout("did_talks", 300, ceiling=90) == 90


def test_a_provider_with_a_keep_alive_call_is_not_cut_short_by_its_stream():
    assert conversation_idle_timeout("heygen", 60, ceiling=300) == 60
    assert conversation_idle_timeout("heygen", 600, ceiling=300) == 300


@pytest.mark.parametrize(("provider", "idle", "due"), [
    ("heygen", 0, False),
    ("heygen", 120 - KEEP_ALIVE_MARGIN - 1, False),
    ("heygen", 120 - KEEP_ALIVE_MARGIN, True),
    ("heygen", 500, True),
    ("did_agents", 500, False),  # D-ID has no keep-alive call: it reconnects instead
    ("did_talks", 299, False),
])
def test_keep_alive_is_due_only_near_the_end_and_only_where_the_vendor_has_the_call(
    provider, idle, due
):
    assert keep_alive_due(provider, None, idle) is due


def test_an_agents_stream_is_replaced_shortly_before_d_id_would_drop_it():
    assert renewal_due_in("did_agents", 300, 0) == 120 - RENEW_MARGIN
    assert renewal_due_in("did_agents", 300, 100) == 120 - RENEW_MARGIN - 100
    assert renewal_due_in("did_agents", 300, 110) == 0  # due now
    assert renewal_due_in("did_agents", 300, 500) == 0  # overdue is still now


@pytest.mark.parametrize("provider", ["did_talks", "did_clips"])
def test_talks_and_clips_streams_are_replaced_shortly_before_their_idle_limit(provider):
    """D-ID documents no keep-alive call for Talks/Clips streams: they are replaced instead."""
    assert renewal_due_in(provider, None, 0) == 300 - RENEW_MARGIN
    assert renewal_due_in(provider, 180, 100) == 180 - RENEW_MARGIN - 100
    assert renewal_due_in(provider, 20, 0) == 10  # a short limit still gets half its life
    assert not keep_alive_due(provider, None, 10_000)


@pytest.mark.parametrize("provider", ["heygen", "liveavatar", "someone_new"])
def test_streams_that_last_or_are_kept_alive_are_never_replaced(provider):
    assert renewal_due_in(provider, 300, 10_000) is None
