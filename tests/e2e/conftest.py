"""End-to-end fixtures: the whole product (one Stack per session), Debian's Chromium driven by
Playwright with a fake camera/microphone, and spoken questions made once with the local Piper."""

from __future__ import annotations

import shutil
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

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
LEADING_SILENCE = 0.6  # seconds of silence before the words in every spoken WAV
TRAILING_SILENCE = 2.0  # long enough for the recogniser's end-of-utterance
WAV_RATE = 48000

# What the fake microphone says in each scenario (Piper speech is transcribed near-exactly).
SPOKEN = {
    "question": "What is the Moon made of?",
    "barge_in": "Wait, stop please. What is your name?",
}


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def stack(artifacts: Path) -> Iterator[Stack]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (`make browser` installs it)")
    with Stack(log_dir=artifacts) as running:
        yield running


@pytest.fixture(scope="session")
def speech(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One WAV per entry of SPOKEN: Piper speech, 16-bit mono 48 kHz, silence before and after."""
    from streaming.engine.tts import load_speaker

    speaker = load_speaker()
    folder = tmp_path_factory.mktemp("speech")
    paths = {}
    for name, text in SPOKEN.items():
        utterance = speaker.synthesize(text).resampled(WAV_RATE)
        silence = [np.zeros(int(s * WAV_RATE), np.int16) for s in (LEADING_SILENCE, TRAILING_SILENCE)]
        pcm = np.concatenate([silence[0], utterance.pcm.astype(np.int16), silence[1]])
        paths[name] = folder / f"{name}.wav"
        with wave.open(str(paths[name]), "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(WAV_RATE)
            out.writeframes(pcm.tobytes())
    return paths


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
