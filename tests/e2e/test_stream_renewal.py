"""A quiet D-ID Talks stream is replaced before D-ID (here the engine, which keeps D-ID's
`session_timeout`) would drop it, in a real Chromium: the page says it is reconnecting, never
shows a video error, connects to the new stream and the conversation carries on there.

A copy of the demo avatar asks for a 40 s `session_timeout` (≤ 300 s, as D-ID allows), so the
socket replaces its stream after 25 quiet seconds (RENEW_MARGIN before the end) instead of 285.
"""

from __future__ import annotations

import pytest

from avatars.demo import DEMO_AVATAR
from launcher.live_page import LivePage
from launcher.page import log_in, new_context

pytestmark = pytest.mark.e2e

SLUG = "astronaut-brief"
SESSION_TIMEOUT = 40

# Every status line the page shows, with its kind (info, live, reconnecting, error...).
STATUS_PROBE = """
(() => {
  window.__status = [];
  document.addEventListener('DOMContentLoaded', () => {
    const status = document.getElementById('status');
    if (!status) return;
    new MutationObserver(() => window.__status.push({
      t: Date.now(), kind: status.dataset.state, text: status.textContent,
    })).observe(status, { attributes: true, childList: true, characterData: true, subtree: true });
  });
})();
"""


@pytest.fixture(scope="module")
def brief_avatar(stack) -> str:
    stack.shell(
        "from avatars.models import Avatar\n"
        f"demo = Avatar.objects.get(slug='{DEMO_AVATAR}')\n"
        f"avatar = Avatar(name='Eileen, briefly', slug='{SLUG}', provider=demo.provider,\n"
        "                voice=demo.voice, persona=demo.persona,\n"
        "                output_resolution=demo.output_resolution, source_image=demo.source_image.name,\n"
        f"                session_timeout={SESSION_TIMEOUT})\n"
        "avatar.full_clean()\n"
        "avatar.save()\n"
    )
    return SLUG


def stream_of(stack, conversation: str) -> str:
    return stack.shell(
        "from conversations.models import Conversation; "
        f"print(Conversation.objects.get(pk='{conversation}').provider_stream_id)"
    ).strip()


def test_a_quiet_stream_is_replaced_and_the_page_reconnects_without_an_error(
    stack, browser, brief_avatar
):
    context = new_context(browser, stack.url)
    context.add_init_script(STATUS_PROBE)
    page = context.new_page()
    log_in(page, "demo", stack.credentials["demo"])
    live = LivePage.open_from_picker(page, brief_avatar)
    live.wait_connected()
    first = stream_of(stack, live.conversation)

    replacing = live.wait_message("stream.replacing", timeout=SESSION_TIMEOUT + 30)
    offer = live.wait_message("rtc.offer", since=replacing["t"], timeout=30)
    live.wait_connected()
    page.wait_for_function("() => document.getElementById('live').dataset.state === 'live'",
                           timeout=30_000)
    second = stream_of(stack, live.conversation)
    assert second and second != first
    engine_streams = {s["id"] for s in stack.engine_streams()}
    assert second in engine_streams and first not in engine_streams  # closed, not left to expire

    shown = [s for s in page.evaluate("() => window.__status") if s["t"] >= replacing["t"]]
    assert any(s["kind"] == "reconnecting" for s in shown if s["t"] <= offer["t"] + 1000), shown
    assert not [s for s in shown if s["kind"] == "error"], shown
    assert page.evaluate("() => window.livePersona.state.lastError") is None

    # The conversation goes on, on the new stream.
    sent = live.say_in_writing("Hello again!")
    live.wait_message("reply.done", since=sent, timeout=150)
    live.wait_avatar("speaking", since=sent, timeout=90)
    assert not live.messages("error", since=replacing["t"]), live.messages("error")
    page.close()
