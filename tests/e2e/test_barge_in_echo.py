"""Only the user's voice interrupts the avatar: not a silent microphone, not a quiet room's hiss
(the avatar's own voice, once the browser's echo canceller has removed it), not a cough.

Each scenario asks for a long answer by text, turns the microphone on as soon as the avatar
starts saying it, and lets Chromium's fake microphone play a WAV with no speech in it
(launcher.microphone.record_room). The WAV plays once from when the page opens the microphone,
so every sound in it falls at a known moment of the avatar's answer. Speaking over the avatar
is tests/e2e/test_live_conversation.py's barge-in test.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from launcher.live_page import LivePage
from launcher.microphone import COUGH_SECONDS, cough, record_room
from launcher.page import open_live_page

pytestmark = pytest.mark.e2e

QUESTION = "Tell me the whole story of your first flight into space, step by step."
ZEROS_S, ROOM_S = 2.0, 3.0  # the silent scenario: digital silence, then a -60 dBFS room
COUGH_AT_S = 1.0  # the cough scenario: into the answer's first sentence


def open_mic_on_a_long_answer(browser, stack) -> tuple[LivePage, float, float]:
    """The avatar starts a long answer; the microphone opens. When (epoch ms) the question was
    sent and the page opened the microphone (the WAV's time zero)."""
    live, _ = open_live_page(browser, stack.url, "demo", stack.credentials["demo"])
    asked = live.say_in_writing(QUESTION)
    live.wait_stream_event("stream/started", since=asked, timeout=90)
    live.click("mic-button")
    expect(live.page.locator("#live")).to_have_attribute("data-mic", "on")
    opened = next(e["t"] for e in live.microphone() if e["event"] == "open")
    return live, asked, opened


def engine_quiet(stack, within: float = 120) -> None:
    deadline = time.monotonic() + within
    while any(s["speaking"] for s in stack.engine_streams()):
        assert time.monotonic() < deadline, "the avatar was still speaking"
        time.sleep(0.2)


def assert_said_to_the_end(live: LivePage, stack, *, asked: float, heard_from: float,
                           heard_until: float) -> None:
    """The answer was written and said whole, and the avatar was saying it while the
    microphone carried [heard_from, heard_until) (epoch ms)."""
    done = live.wait_message("reply.done", since=asked, timeout=120)
    engine_quiet(stack)
    live.page.wait_for_timeout(500)  # the last stream/done reaches the page
    assert not done["data"]["interrupted"] and done["data"]["text"].strip(), done["data"]
    talks = live.stream_events("stream/done", since=asked)
    assert talks and not [t for t in talks if t["payload"].get("interrupted")], talks
    # Otherwise the test proves nothing: the answer must outlast what the microphone played.
    assert talks[-1]["t"] > heard_until, (
        f"the answer ended {heard_until - talks[-1]['t']:.0f} ms before the sound did"
    )
    assert live.stream_events("stream/started", since=asked)[0]["t"] < heard_from
    # No words heard (the typed question's own transcript.final aside), nothing cut off.
    cuts = [m["data"] for m in live.messages(since=asked)
            if m["type"] in ("avatar.interrupt", "reply.interrupted", "transcript.interim")
            or (m["type"] == "transcript.final" and m["data"].get("source") != "text")]
    assert not cuts, cuts
    reply = live.page.locator('#transcript li.message[data-role="assistant"]')
    expect(reply).to_have_count(1)
    expect(reply).not_to_have_attribute("data-interrupted", "true")
    expect(reply.locator(".text")).to_have_text(done["data"]["text"])


def test_a_silent_microphone_and_a_quiet_room_never_interrupt_the_avatar(
    stack, launch_browser, tmp_path: Path
):
    wav = record_room(tmp_path / "quiet-room.wav", seconds=ZEROS_S + ROOM_S,
                      silent_first=ZEROS_S)
    live, asked, opened = open_mic_on_a_long_answer(launch_browser(microphone=wav), stack)
    assert_said_to_the_end(live, stack, asked=asked, heard_from=opened,
                           heard_until=opened + (ZEROS_S + ROOM_S) * 1000)


def test_a_150_ms_cough_while_the_avatar_talks_does_not_interrupt_it(
    stack, launch_browser, tmp_path: Path
):
    wav = record_room(tmp_path / "cough.wav", seconds=COUGH_AT_S + 2.0,
                      sounds={COUGH_AT_S: cough()})
    live, asked, opened = open_mic_on_a_long_answer(launch_browser(microphone=wav), stack)
    coughed = opened + COUGH_AT_S * 1000
    assert_said_to_the_end(live, stack, asked=asked, heard_from=coughed,
                           heard_until=coughed + COUGH_SECONDS * 1000)
