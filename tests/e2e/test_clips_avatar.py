"""A D-ID Clips avatar (a premade presenter) talks in a real Chromium, against the whole product.

The avatar is made the way staff make one: its presenter and driver picked from the avatar
service's own `GET /clips/presenters` list (here the local engine's), its stream opened with
`POST /clips/streams`. A typed message must make the presenter talk, its mouth moving while it
does, and the exchange must be saved. With no idle video of its own, the page loops the
presenter's `idle_video` from that list (the engine renders one per presenter).
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request

import pytest
from playwright.sync_api import expect

from launcher.page import open_live_page
from launcher.page_recorder import now_ms, speaking_spans
from launcher.stack import LOCAL_ENGINE_KEY

pytestmark = pytest.mark.e2e

SLUG = "clips-presenter"
SIZE = 512  # the engine's default resolution: a Clips stream takes no output_resolution


@pytest.fixture(scope="module")
def presenter(stack) -> dict:
    """The first presenter of the engine's list, and a Clips avatar made with it."""
    key = stack.env.get("ENGINE_API_KEY", LOCAL_ENGINE_KEY)
    request = urllib.request.Request(f"{stack.engine_url}/clips/presenters",
                                     headers={"Authorization": f"Basic {key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        listed = json.load(response)["presenters"]
    assert listed, "the engine lists no presenters"
    chosen = listed[0]
    stack.shell(
        "from avatars.models import Avatar\n"
        "demo = Avatar.objects.get(slug='astronaut')\n"
        f"avatar = Avatar(name='Clips presenter', slug='{SLUG}', provider='did_clips',\n"
        f"                presenter_id='{chosen['presenter_id']}', driver_id='{chosen['driver_id']}',\n"
        "                voice=demo.voice, persona=demo.persona)\n"
        "avatar.full_clean()\n"
        "avatar.save()\n"
    )
    return chosen


@pytest.fixture(scope="module")
def mouth_box(presenter) -> tuple[int, int, int, int]:
    """Where the engine draws this presenter's mouth, widened for the head's slight sway."""
    # OpenCV and the renderer: loaded by the browser tests that measure a mouth only.
    from engine.face import FaceFinder
    from engine.presenters import presenter_image
    from engine.renderer import TalkingHeadRenderer

    rgb = presenter_image(presenter["presenter_id"])
    x0, y0, x1, y1 = TalkingHeadRenderer(rgb, FaceFinder().find_in_image(rgb), SIZE).face_regions()["mouth"]
    pad = 6
    return max(0, x0 - pad), max(0, y0 - pad), min(SIZE, x1 + pad), min(SIZE, y1 + pad)


def engine_quiet(stack, within: float = 120) -> float:
    """Until no Clips stream has anything left to say; when (epoch ms)."""
    deadline = time.monotonic() + within
    while any(s["speaking"] for s in stack.engine_streams("clips")):
        assert time.monotonic() < deadline, f"still speaking after {within}s"
        time.sleep(0.2)
    return now_ms()


def test_a_clips_presenter_talks_in_the_browser_and_the_exchange_is_saved(
    stack, browser, presenter, mouth_box
):
    live, _ = open_live_page(browser, stack.url, "demo", stack.credentials["demo"], SLUG)
    page = live.page
    stream = stack.shell(
        "from conversations.models import Conversation; "
        f"print(Conversation.objects.get(pk='{live.conversation}').provider_stream_id)"
    )
    clips = {s["id"]: s for s in stack.engine_streams("clips")}
    assert stream in clips, (stream, clips)  # a Clips stream, not a Talks one
    video = live.video()
    assert (video["width"], video["height"]) == (SIZE, SIZE) and not video["paused"]

    live.start_mouth_probe(mouth_box, SIZE)
    page.wait_for_timeout(2000)  # the presenter idles: mouth shut
    question = "Hello! Who are you?"
    sent = live.say_in_writing(question)
    live.wait_stream_event("stream/started", since=sent, timeout=90)
    live.wait_avatar("speaking", since=sent, timeout=10)
    done = live.wait_message("reply.done", since=sent, timeout=120)
    assert done["data"]["text"].strip()
    quiet = engine_quiet(stack)
    expect(page.locator("#live")).to_have_attribute("data-avatar-state", "idle")

    spans = speaking_spans([s for s in live.avatar_states() if s["t"] >= sent])
    assert spans, live.avatar_states()
    talking = [s["moved"] for a, b in spans for s in live.mouth(a, b, state="speaking")]
    idle = [s["moved"] for s in live.mouth(sent - 1800, sent, state="idle")]
    assert len(talking) >= 10 and len(idle) >= 10, (len(talking), len(idle))
    moving, still = statistics.median(talking), statistics.median(idle)
    assert moving > max(0.004, 5 * still), (moving, still)  # the lips move while it talks

    saved = json.loads(stack.shell(
        "import json; from conversations.models import Message; "
        f"print(json.dumps([[m.role, m.text] for m in Message.objects.filter("
        f"conversation_id='{live.conversation}').order_by('created_at', 'pk')]))"
    ))
    assert saved == [["user", question], ["assistant", done["data"]["text"]]], saved
    assert quiet >= sent

    # No idle video was uploaded: the page loops the presenter's own, from the engine's list.
    assert page.locator("#idle-video").get_attribute("src") == presenter["idle_video"]
    page.wait_for_function(
        "() => { const v = document.getElementById('idle-video'); return !v.paused && v.currentTime > 0; }",
        timeout=30_000,
    )
    page.close()  # ends the conversation (pagehide), as a person closing the tab does
