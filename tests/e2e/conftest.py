"""End-to-end fixtures: the whole product (one Stack per session), Debian's Chromium driven by
Playwright with a fake camera/microphone, and spoken questions made once with the local Piper."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .speech import write_spoken
from .stack import ARTIFACTS, Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
]


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def stack(artifacts: Path) -> Iterator[Stack]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (`make browser` installs it)")
    # Short replies keep the suite quick on two cores (the persona asks for 1-3 sentences,
    # the 135M model does not always listen).
    with Stack(log_dir=artifacts, env={"LLM_MAX_TOKENS": "60"}) as running:
        yield running


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The fake microphone's WAVs (see speech.py), made once per run with the local Piper."""
    return write_spoken(tmp_path_factory.mktemp("speech"))


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def launch_browser(playwright_driver) -> Iterator[Callable]:
    """`launch_browser(microphone=None)`: a Chromium whose fake microphone plays that WAV once
    (Chromium's fake device beeps when no file is given). Closed after the test."""
    launched = []

    def launch(microphone: Path | None = None):
        flags = list(CHROMIUM_FLAGS)
        if microphone is not None:
            flags.append(f"--use-file-for-fake-audio-capture={microphone}%noloop")
        browser = playwright_driver.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=flags
        )
        launched.append(browser)
        return browser

    yield launch
    for browser in launched:
        browser.close()


@pytest.fixture
def browser(launch_browser):
    return launch_browser()
