"""An avatar with an idle video, in a real Chromium: the loop plays while the stream warms up and
while the avatar is silent, and crossfades to the live stream while it talks.

The idle video is the engine's own idle loop of the demo face (engine/idle_video.py), a VP8 WebM
that Debian's Chromium plays, uploaded to a copy of the demo avatar so the other browser tests
keep theirs as it is. What is asserted is what a person sees: which video is opaque, and that
the loop is really playing (not paused, its time advancing).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from avatars.demo import DEMO_AVATAR, DEMO_SIZE, astronaut_png
from launcher.live_page import LivePage
from launcher.page import log_in, new_context
from launcher.page_recorder import now_ms

pytestmark = pytest.mark.e2e

SLUG = "astronaut-idle"

# Samples the stage every 100 ms from page load on, before the page's own scripts run.
STAGE_PROBE = """
(() => {
  window.__stage = [];
  document.addEventListener('DOMContentLoaded', () => {
    const idle = document.getElementById('idle-video');
    const live = document.getElementById('avatar-video');
    if (!idle || !live) return;
    const opacity = (element) => Number(getComputedStyle(element).opacity);
    setInterval(() => window.__stage.push({
      t: Date.now(), idleTime: idle.currentTime, idlePaused: idle.paused,
      idle: opacity(idle), live: opacity(live),
      shown: document.getElementById('stage').dataset.shown,
    }), 100);
  });
})();
"""


@pytest.fixture(scope="module")
def idle_avatar(stack) -> str:
    """A copy of the demo avatar with the engine's idle loop of its face as its idle video."""
    from engine.idle_video import idle_loop_webm  # OpenCV and the renderer: this module only

    path = Path(stack.tmp) / "astronaut-idle.webm"
    path.write_bytes(idle_loop_webm(astronaut_png(), size=DEMO_SIZE // 2, seconds=2.0))
    stack.shell(
        "from pathlib import Path\n"
        "from django.core.files.base import ContentFile\n"
        "from avatars.models import Avatar\n"
        f"demo = Avatar.objects.get(slug='{DEMO_AVATAR}')\n"
        f"avatar = Avatar(name='Eileen at rest', slug='{SLUG}', provider=demo.provider,\n"
        "                voice=demo.voice, persona=demo.persona,\n"
        "                output_resolution=demo.output_resolution, source_image=demo.source_image.name)\n"
        f"avatar.idle_video.save('astronaut-idle.webm', ContentFile(Path('{path}').read_bytes()), save=False)\n"
        "avatar.full_clean()  # the upload check accepts the engine's WebM\n"
        "avatar.save()\n"
    )
    return SLUG


def stage_samples(page, since: float = 0) -> list[dict]:
    return [s for s in page.evaluate("() => window.__stage") if s["t"] >= since]


def assert_idle_loop_playing(samples: list[dict], what: str) -> None:
    playing = [s for s in samples if not s["idlePaused"]]
    assert len(playing) >= 3, f"{what}: the idle video did not play: {samples[-5:]}"
    assert playing[-1]["idleTime"] != playing[0]["idleTime"], f"{what}: its time stood still"
    assert all(s["idle"] == 1 and s["live"] == 0 for s in samples), f"{what}: {samples}"


def test_the_idle_video_loops_until_the_avatar_talks_then_crossfades_to_the_live_stream(
    stack, browser, idle_avatar
):
    context = new_context(browser, stack.url)
    context.add_init_script(STAGE_PROBE)
    page = context.new_page()
    log_in(page, "demo", stack.credentials["demo"])
    live = LivePage.open_from_picker(page, idle_avatar)
    live.wait_connected()
    expect(page.locator("#stage")).to_have_attribute("data-shown", "idle")

    # The engine says stream/ready once warm-up is over; until then the loop plays.
    ready = live.wait_stream_event("stream/ready", timeout=30)
    expect(page.locator("#live")).to_have_attribute("data-stream-ready", "true")
    expect(page.locator("#live")).to_have_attribute("data-stream-ready-by", "stream/ready")
    before_ready = [s for s in stage_samples(page) if s["t"] < ready["t"]]
    assert_idle_loop_playing(before_ready, "before stream/ready")
    page.wait_for_timeout(600)
    assert_idle_loop_playing(stage_samples(page, since=ready["t"]), "ready, nobody talking")

    sent = live.say_in_writing("Hello! Please introduce yourself.")
    started = live.wait_stream_event("stream/started", since=sent, timeout=90)
    live.wait_message("reply.done", since=sent, timeout=120)
    quiet = engine_quiet(stack)
    talking = [s for s in stage_samples(page, since=started["t"]) if s["t"] < quiet]
    assert any(s["shown"] == "live" and s["live"] == 1 and s["idle"] == 0 for s in talking), talking

    # Silent again: back to the loop, still playing.
    expect(page.locator("#live")).to_have_attribute("data-avatar-state", "idle")
    expect(page.locator("#stage")).to_have_attribute("data-shown", "idle")
    page.wait_for_timeout(1000)  # the 0.35 s crossfade, then a few samples
    assert_idle_loop_playing(stage_samples(page, since=now_ms() - 500), "after the reply")
    page.close()  # ends the conversation (pagehide), as a person closing the tab does


def engine_quiet(stack, within: float = 120) -> float:
    """Until no engine stream has anything left to say; when (epoch ms)."""
    deadline = time.monotonic() + within
    while any(s["speaking"] for s in stack.engine_streams()):
        assert time.monotonic() < deadline, f"still speaking after {within}s"
        time.sleep(0.2)
    return now_ms()
