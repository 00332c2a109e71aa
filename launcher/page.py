"""What a person does and sees on LivePersona's pages, in Debian's Chromium driven by Playwright:
shared by the browser tests (tests/e2e) and the browser benchmark (bench/).

This module launches Chromium, opens browser profiles with the recorder installed
(`launcher.page_recorder`) and logs in; `launcher.live_page.LivePage` reads and drives the live
page itself.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from avatars.demo import DEMO_AVATAR
from launcher.live_page import LivePage
from launcher.page_recorder import RECORDER, now_ms, watch_csp_console

# Debian's Chromium (`make browser` installs it): Playwright's own download is never used.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
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

def chromium_installed() -> bool:
    return Path(CHROMIUM).exists()


def launch_chromium(driver: Playwright, microphone: Path | None = None) -> Browser:
    """A headless Chromium with a fake camera and a fake microphone that plays `microphone`
    (a WAV, see launcher.microphone) once from when the page opens it; without one,
    Chromium's fake device beeps."""
    flags = list(CHROMIUM_FLAGS)
    if microphone is not None:
        flags.append(f"--use-file-for-fake-audio-capture={microphone}%noloop")
    return driver.chromium.launch(executable_path=CHROMIUM, headless=True, args=flags)


def new_context(browser, base_url: str, *, mic_level: bool = False) -> BrowserContext:
    """A browser profile of its own (cookies, storage) with the recorder installed; with
    `mic_level`, the recorder also follows the microphone's level (see `speech_ends`)."""
    context = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 900})
    if mic_level:
        context.add_init_script("window.__recordMicLevel = true;")
    context.add_init_script(RECORDER)
    context.set_default_timeout(30_000)
    return context


def log_in(page: Page, username: str, password: str) -> None:
    page.goto("/")  # the picker sends strangers to the login form
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Who do you want to talk to?")


def open_live_page(browser: Browser, base_url: str, username: str, password: str,
                   slug: str = DEMO_AVATAR, *, mic_level: bool = False) -> tuple[LivePage, dict]:
    """Log in, pick the avatar, wait for the media; what the labels said and how long."""
    context = new_context(browser, base_url, mic_level=mic_level)
    csp_console = watch_csp_console(context)
    page = context.new_page()
    log_in(page, username, password)
    opened = now_ms()
    live = LivePage.open_from_picker(page, slug)
    live.csp_console = csp_console
    labels = live.wait_connected()
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    return live, {"labels": labels, "page_to_streaming_ms": round(now_ms() - opened)}
