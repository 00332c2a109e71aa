"""Avatars, voices and the caller's own conversations through the API."""

from __future__ import annotations

import json

import pytest

from .conftest import error_of

pytestmark = pytest.mark.django_db


def test_avatars_list_only_active_ones_with_their_voice_persona_and_picture(
    api_as, alice, avatar, voice, persona
):
    from avatars.models import Avatar

    Avatar.objects.create(name="Retired", slug="retired", source_url="https://x.test/a.png",
                          is_active=False)
    persona.greeting = "Welcome!"
    persona.save()
    [listed] = api_as(alice).get("/api/v1/avatars").json()
    assert listed == {
        "slug": "ada", "name": "Ada", "description": "", "provider": "did_talks",
        "transport": "webrtc", "image": f"http://testserver{avatar.source_image.url}",
        "voice": voice.pk, "persona": persona.pk, "has_greeting": True,
    }
    assert api_as(alice).get("/api/v1/avatars/ada").json() == listed


@pytest.mark.parametrize("slug", ["retired", "nobody", "not a slug"])
def test_inactive_or_unknown_avatars_are_404(api_as, alice, avatar, slug):
    from avatars.models import Avatar

    Avatar.objects.create(name="Retired", slug="retired", source_url="https://x.test/a.png",
                          is_active=False)
    assert error_of(api_as(alice).get(f"/api/v1/avatars/{slug}")) == (404, "not_found")


def test_voices_are_listed_and_read(api_as, alice, voice):
    expected = {"id": voice.pk, "name": "Joe", "provider": "local",
                "voice_id": "en_US-joe-medium", "language": "en-US", "style": ""}
    assert api_as(alice).get("/api/v1/voices").json() == [expected]
    assert api_as(alice).get(f"/api/v1/voices/{voice.pk}").json() == expected
    assert error_of(api_as(alice).get(f"/api/v1/voices/{voice.pk + 1}")) == (404, "not_found")
    assert error_of(api_as(alice).get("/api/v1/voices/joe")) == (404, "not_found")


# Conversations ---------------------------------------------------------------------------------


def test_the_list_holds_only_the_callers_conversations_newest_first(
    api_as, alice, bob, make_conversation
):
    older = make_conversation(alice, "What is the moon made of?", "Rock.")
    newer = make_conversation(alice, "Tell me a joke", "No.")
    make_conversation(bob, "Bob's secret question")
    body = api_as(alice).get("/api/v1/conversations").json()
    assert body["count"] == 2 and body["pages"] == 1 and body["page"] == 1
    assert [(r["id"], r["first_words"]) for r in body["results"]] == [
        (str(newer.pk), "Tell me a joke"), (str(older.pk), "What is the moon made of?"),
    ]


def test_search_finds_the_callers_conversations_by_their_words(
    api_as, alice, bob, make_conversation
):
    moon = make_conversation(alice, "What is the moon made of?", "Rock.")
    make_conversation(alice, "Tell me a joke", "No.")
    make_conversation(bob, "The moon again")
    body = api_as(alice).get("/api/v1/conversations", {"q": "moon"}).json()
    assert [r["id"] for r in body["results"]] == [str(moon.pk)]


def test_pages_split_the_list(api_as, alice, make_conversation):
    for i in range(3):
        make_conversation(alice, f"question {i}")
    body = api_as(alice).get("/api/v1/conversations", {"page": 2, "page_size": 2}).json()
    assert (body["count"], body["pages"], len(body["results"])) == (3, 2, 1)
    response = api_as(alice).get("/api/v1/conversations", {"page": 3, "page_size": 2})
    assert error_of(response) == (404, "no_such_page")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"page": "two"}, "invalid_input"),
        ({"page": 0}, "invalid_input"),
        ({"page_size": 1000}, "invalid_input"),
        ({"q": "x" * 201}, "too_large"),
    ],
)
def test_bad_list_queries_are_422(api_as, alice, query, code):
    assert error_of(api_as(alice).get("/api/v1/conversations", query)) == (422, code)


def test_detail_holds_every_message_with_timings(api_as, alice, make_conversation):
    conversation = make_conversation(alice, "Hello", "Hi there!")
    body = api_as(alice).get(f"/api/v1/conversations/{conversation.pk}").json()
    assert body["id"] == str(conversation.pk) and body["avatar"] == "Ada"
    assert [(m["role"], m["text"]) for m in body["messages"]] == [
        ("user", "Hello"), ("assistant", "Hi there!"),
    ]
    assert "timings_ms" in body["messages"][1]


def test_export_downloads_json_or_markdown(api_as, alice, make_conversation):
    conversation = make_conversation(alice, "Hello", "Hi there!")
    url = f"/api/v1/conversations/{conversation.pk}/export"
    as_json = api_as(alice).get(url)
    assert as_json["Content-Disposition"] == (
        f'attachment; filename="conversation-{conversation.pk}.json"'
    )
    assert json.loads(as_json.content)["messages"][1]["text"] == "Hi there!"
    as_markdown = api_as(alice).get(url, {"format": "markdown"})
    assert as_markdown["Content-Type"].startswith("text/markdown")
    assert "**You**" in as_markdown.content.decode() and "Hi there!" in as_markdown.content.decode()
    assert error_of(api_as(alice).get(url, {"format": "pdf"})) == (422, "invalid_input")


def test_delete_removes_an_ended_conversation_but_not_a_live_one(
    api_as, alice, make_conversation
):
    from conversations.models import Conversation

    ended = make_conversation(alice, "Hello")
    live = make_conversation(alice, "Hello", status="live")
    assert api_as(alice).delete(f"/api/v1/conversations/{ended.pk}").status_code == 204
    assert not Conversation.objects.filter(pk=ended.pk).exists()
    response = api_as(alice).delete(f"/api/v1/conversations/{live.pk}")
    assert error_of(response) == (409, "session_live")
    assert Conversation.objects.filter(pk=live.pk).exists()


@pytest.mark.parametrize("method", ["get", "delete"])
@pytest.mark.parametrize(
    "suffix", ["00000000-0000-0000-0000-000000000000", "not-a-uuid", "123"]
)
def test_unknown_conversations_are_404(api_as, alice, method, suffix):
    response = getattr(api_as(alice), method)(f"/api/v1/conversations/{suffix}")
    assert error_of(response) == (404, "not_found")
