"""Fixtures for the provider client tests (helpers live in vendor_wire.py)."""

from __future__ import annotations

import pytest

from streaming.providers.http import RetryPolicy

from .vendor_wire import Sleeper, Wire


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def sleeper() -> Sleeper:
    return Sleeper()


@pytest.fixture
def retry(sleeper: Sleeper) -> RetryPolicy:
    return RetryPolicy(attempts=3, base_delay=0.5, max_delay=4.0, jitter=0.0, sleep=sleeper)
