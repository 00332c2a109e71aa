"""End-to-end fixtures: the whole product (one launcher Stack per session), Debian's Chromium
driven by Playwright with a fake camera/microphone, and spoken questions made once with the
local Piper. The stack and the page helpers live in the `launcher` package (bench uses them too)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from launcher import Stack
from launcher.microphone import write_spoken
from launcher.page import chromium_installed, launch_chromium
from launcher.stack import BASE_DIR

ARTIFACTS = BASE_DIR / "test-artifacts" / "e2e"


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def stack(artifacts: Path) -> Iterator[Stack]:
    if not chromium_installed():
        pytest.skip("Debian's chromium is not installed (`make browser` installs it)")
    # Short replies keep the suite quick on two cores (the persona asks for 1-3 sentences,
    # the 135M model does not always listen).
    with Stack(name="e2e", log_dir=artifacts / "stack", env={"LLM_MAX_TOKENS": "60"}) as running:
        yield running


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fake microphone's WAVs (see launcher/microphone.py), made once per run."""
    return write_spoken(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright  # starts Playwright's driver: e2e only

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def launch_browser(playwright_driver) -> Iterator[Callable]:
    """`launch_browser(microphone=None)`: a Chromium whose fake microphone plays that WAV once
    (Chromium's fake device beeps when no file is given). Closed after the test."""
    launched = []

    def launch(microphone: Path | None = None):
        launched.append(launch_chromium(playwright_driver, microphone))
        return launched[-1]

    yield launch
    for browser in launched:
        browser.close()


@pytest.fixture
def browser(launch_browser):
    return launch_browser()
