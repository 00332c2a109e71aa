"""The shared request loop: what it retries, how long it waits, what it reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from streaming.error_codes import AVATAR, Service
from streaming.providers.errors import ProviderRejected, scrub
from streaming.providers.http import RetryPolicy, request_with_retries, retry_after_seconds


def test_retry_after_may_be_seconds_or_an_http_date():
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "7"})) == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= retry_after_seconds(httpx.Response(429, headers={"Retry-After": later})) <= 30
    assert retry_after_seconds(httpx.Response(429)) is None
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "soon"})) is None


def test_backoff_doubles_up_to_the_cap_and_jitter_only_adds():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0, jitter=0.5)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (6, 4.0)]:
        assert base <= policy.backoff(attempt) <= base * 1.5


def test_scrub_replaces_every_secret_and_ignores_empty_ones():
    assert scrub("key=abcd1234 again abcd1234", ["abcd1234", "", None]) == (
        "key=<redacted> again <redacted>"
    )


async def test_2xx_is_returned_and_other_statuses_are_not_mistaken_for_success(sleeper):
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(409, json={"message": "busy"}))
    )
    with pytest.raises(ProviderRejected) as caught:
        await request_with_retries(
            client,
            "POST",
            "https://vendor.test/x?token=abc",
            provider="vendor",
            service=Service(AVATAR, "avatar service (Vendor)"),
            json={},
            retry=RetryPolicy(sleep=sleeper),
        )
    assert (caught.value.status, caught.value.code) == (409, "avatar_rejected")
    assert caught.value.vendor_message == "busy"
    await client.aclose()
