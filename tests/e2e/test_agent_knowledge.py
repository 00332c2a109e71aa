"""A staff member gives a D-ID agent a made-up fact in the admin, and a person asks the agent
about it by voice in Chromium: the agent answers with the fact, on its own stream, lips moving.

Everything runs against the whole product and the local engine (which imitates D-ID's Agents
and Knowledge APIs): the admin's saves reach the engine through the Celery sync, the document is
indexed there, and the agent's chat answers from it with the engine's small LLM.
"""

from __future__ import annotations

import json
import re
import time

import pytest
from playwright.sync_api import Page, expect

from avatars.demo import astronaut_png
from launcher.live_page import LivePage
from launcher.microphone import write_spoken
from launcher.page import new_context
from launcher.page_recorder import mouth_box, now_ms

from .test_live_conversation import assert_mouth_moves_only_while_speaking

pytestmark = pytest.mark.e2e

FACT = "The lighthouse keeper of Pine Bay is named Ottoline Brask."
DOCUMENT = (
    "# Pine Bay\n\n"
    "Pine Bay is a small fishing harbour with one stone pier and a red lighthouse.\n\n"
    f"{FACT} She has kept the light for twenty years.\n"
)
QUESTION = "What is the name of the lighthouse keeper of Pine Bay?"
STARTER = "What is Pine Bay like?"
SLUG = "quillon-guide"


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory):
    """The spoken question, made with the engine's Piper as the other e2e WAVs are."""
    return write_spoken(tmp_path_factory.mktemp("agent-speech"), {"keeper": QUESTION})["keeper"]


def admin_login(page: Page, password: str) -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    expect(page.locator("#site-name")).to_be_visible()


def reload_until(page: Page, text: str, *, failed: str, within: float) -> None:
    """Reload the admin page until it shows `text` (the sync runs in the Celery worker)."""
    deadline = time.monotonic() + within
    while True:
        content = page.locator("#content").inner_text()
        if text in content:
            return
        assert failed not in content, content
        assert time.monotonic() < deadline, f"{text!r} not shown within {within}s: {content}"
        page.wait_for_timeout(1000)
        page.reload()


def agents_quiet(stack, within: float = 120) -> float:
    """Until no engine agents stream has anything left to say; when (epoch ms)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        streams = [s for s in stack.engine_streams(kind=None) if s["kind"] == "agents"]
        if not any(s["speaking"] for s in streams):
            return now_ms()
        time.sleep(0.2)
    raise AssertionError(f"the agent was still speaking after {within}s")


def test_staff_give_an_agent_a_fact_and_it_answers_a_spoken_question_with_it(
    stack, launch_browser, question_wav
):
    browser = launch_browser(microphone=question_wav)
    page = new_context(browser, stack.url).new_page()
    admin_login(page, stack.credentials["admin"])

    # A knowledge base with one Markdown document, processed by the (imitated) D-ID.
    page.goto("/admin/agents/knowledgebase/add/")
    page.fill("#id_name", "Pine Bay")
    page.fill("#id_documents-0-title", "Harbour notes")
    page.set_input_files("#id_documents-0-file", files=[{
        "name": "quillon.md", "mimeType": "text/markdown", "buffer": DOCUMENT.encode(),
    }])
    page.click("input[name=_continue]")
    reload_until(page, "Ready", failed="Failed", within=90)

    # An agent that answers from it, with a photo and a starter message.
    page.goto("/admin/agents/agent/add/")
    page.fill("#id_name", "Keeper")
    page.select_option("#id_presenter_type", "talk")
    page.set_input_files("#id_source_image", files=[{
        "name": "keeper.png", "mimeType": "image/png", "buffer": astronaut_png(),
    }])
    page.fill("#id_instructions", "You are the harbour guide of Pine Bay. Answer questions "
                                  "about the bay from your knowledge base.")
    page.fill("#id_starter_messages", json.dumps([STARTER]))
    page.select_option("#id_knowledge_base", label="Pine Bay")
    page.click("input[name=_continue]")
    reload_until(page, "Synced with D-ID", failed="Sync failed", within=90)

    # The avatar people talk to: a D-ID Agents stream of that agent, answering as the agent.
    page.goto("/admin/avatars/avatar/add/")
    page.fill("#id_name", "Pine guide")
    page.dispatch_event("#id_name", "change")  # the admin fills the slug in from the name now
    page.fill("#id_slug", SLUG)
    expect(page.locator("#id_slug")).to_have_value(SLUG)
    page.select_option("#id_provider", "did_agents")
    page.select_option("#id_managed_agent", label="Keeper")
    page.select_option("#id_reply_mode", "agent")
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    # The live page: the starter is a button that sends it as a typed message.
    page.goto("/")
    live = LivePage.open_from_picker(page, SLUG)
    live.wait_connected(timeout=90)
    expect(page.locator("#live")).to_have_attribute("data-state", "live")
    video = live.video()
    size = video["width"]
    assert size > 0 and not video["paused"]
    live.start_mouth_probe(mouth_box(astronaut_png(), size, pad=6), size)

    starter = page.locator("#starters button.starter")
    expect(starter).to_have_text([STARTER])
    expect(starter).to_be_enabled()
    clicked = now_ms()
    starter.click()
    typed = page.locator('#transcript li.message[data-role="user"]')
    expect(typed.locator(".text")).to_have_text([STARTER])
    expect(typed).to_have_attribute("data-message-id", re.compile(r"^\d+$"), timeout=30_000)
    first = live.wait_message("reply.done", since=clicked, timeout=180)
    assert first["data"]["text"].strip() and not first["data"]["interrupted"]
    quiet = agents_quiet(stack)
    page.wait_for_timeout(max(0, quiet + 2500 - now_ms()))  # the avatar idles, mouth shut

    # The spoken question: heard, answered with the fact, and said by the avatar.
    mic = live.click("mic-button")
    final = live.wait_message("transcript.final", since=mic, timeout=60)
    heard = final["data"]["text"]
    assert "lighthouse" in heard.lower(), heard
    live.wait_stream_event("stream/started", since=mic, timeout=180)
    live.wait_avatar("speaking", since=mic, timeout=30)
    done = live.wait_message(
        "reply.done", since=mic, timeout=180,
        where=lambda data: data.get("reply_to") == final["data"]["message_id"],
    )
    answer = done["data"]["text"]
    assert "Brask" in answer and not done["data"]["interrupted"], answer
    reply = page.locator('#transcript li.message[data-role="assistant"]').last
    expect(reply.locator(".text")).to_contain_text("Brask")
    saved = stack.shell(
        "from conversations.models import Message; "
        f"m = Message.objects.get(pk={int(done['data']['message_id'])}); "
        "print(m.role, m.reply_to_id, m.text)"
    )
    assert saved.startswith(f"assistant {final['data']['message_id']} ") and "Brask" in saved

    quiet = agents_quiet(stack)
    expect(page.locator("#live")).to_have_attribute("data-avatar-state", "idle")
    page.wait_for_timeout(2500)
    assert_mouth_moves_only_while_speaking(live, idle_before=(mic - 2300, mic),
                                           idle_after_from=quiet + 700)
    page.context.close()
