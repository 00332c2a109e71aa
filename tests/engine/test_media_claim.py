"""The media process's claim on the CPU and the LLM's pauses for it (engine/media_claim.py):
the shared memory both map, the claim's count and deadline, and no-ops without it."""

import os
import threading
import time

import pytest

from engine import media_claim
from engine.media_claim import MediaClaim


@pytest.fixture
def fd():
    fd = media_claim.create()
    assert fd is not None  # Linux: a memfd
    yield fd
    os.close(fd)


def test_a_claim_held_in_one_mapping_is_seen_in_another(fd):
    media, llm = MediaClaim(fd), MediaClaim(fd)
    assert not llm.active()
    with media.held():
        assert llm.active()
    assert not llm.active()


def test_claims_are_counted_so_one_ending_leaves_the_other_held(fd):
    media, llm = MediaClaim(fd), MediaClaim(fd)
    first, second = media.held(), media.held()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert llm.active()
    second.__exit__(None, None, None)
    assert not llm.active()


def test_a_claim_lapses_at_its_deadline_though_nobody_released_it(fd):
    """A media process that died holding a claim must not stop the LLM for longer."""
    media, llm = MediaClaim(fd), MediaClaim(fd)
    claim = media.held(0.05)
    claim.__enter__()  # never exited, as by a process killed mid-synthesis
    assert llm.active()
    assert 0.03 < llm.wait() < 0.5
    assert not llm.active()
    del claim


def test_wait_returns_when_the_claim_is_released(fd):
    media, llm = MediaClaim(fd), MediaClaim(fd)
    claim = media.held(5.0)
    claim.__enter__()
    threading.Timer(0.1, claim.__exit__, (None, None, None)).start()
    started = time.monotonic()
    waited = llm.wait()
    assert 0.05 < waited < 1.0 and time.monotonic() - started < 1.0


def test_wait_gives_up_after_its_limit(fd):
    media, llm = MediaClaim(fd), MediaClaim(fd)
    with media.held(5.0):
        assert 0.05 < llm.wait(limit=0.1) < 0.5


def test_without_shared_memory_claims_are_no_ops():
    for claim in (MediaClaim(), MediaClaim.from_env({}), MediaClaim.from_env({media_claim.ENV: "x"})):
        assert not claim.enabled
        with claim.held():
            assert not claim.active()
        assert claim.wait() == 0.0


def test_the_variable_names_the_inherited_descriptor(fd):
    media = MediaClaim(fd)
    llm = MediaClaim.from_env({media_claim.ENV: str(fd)})
    assert llm.enabled
    with media.held():
        assert llm.active()
