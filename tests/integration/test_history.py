"""A user's history: only their own conversations, searchable, exportable, deletable."""

import json

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


def login(client, user, password):
    assert client.login(username=user.username, password=password)
    return client


@pytest.fixture
def alice_client(client, alice):
    return login(client, alice, "alice-pass-123")


def test_list_shows_only_my_conversations(alice_client, alice, bob, make_conversation):
    mine = make_conversation(alice, "How far is the moon?", "About 384,000 km.")
    theirs = make_conversation(bob, "Bob's private question", "Bob's private answer")
    page = alice_client.get(reverse("conversations:list")).content.decode()
    assert str(mine.pk) in page and "How far is the moon?" in page
    assert str(theirs.pk) not in page and "private" not in page


@pytest.mark.parametrize("name", ["conversations:detail", "conversations:export-json",
                                  "conversations:export-markdown", "conversations:delete"])
def test_another_users_conversation_is_a_404_everywhere(alice_client, bob, make_conversation, name):
    theirs = make_conversation(bob, "Bob's secret plan", "A secret reply")
    response = alice_client.get(reverse(name, args=[theirs.pk]))
    assert response.status_code == 404
    assert b"secret" not in response.content


def test_deleting_another_users_conversation_is_refused_and_keeps_it(alice_client, bob, make_conversation):
    from conversations.models import Conversation

    theirs = make_conversation(bob, "keep me")
    response = alice_client.post(reverse("conversations:delete", args=[theirs.pk]))
    assert response.status_code == 404
    assert Conversation.objects.filter(pk=theirs.pk).exists()


def test_delete_my_conversation(alice_client, alice, make_conversation):
    from conversations.models import Conversation, Message

    mine = make_conversation(alice, "forget this", "forgotten")
    response = alice_client.post(reverse("conversations:delete", args=[mine.pk]))
    assert response.status_code == 302
    assert not Conversation.objects.filter(pk=mine.pk).exists()
    assert not Message.objects.filter(conversation_id=mine.pk).exists()


def test_a_live_conversation_cannot_be_deleted(alice_client, alice, make_conversation):
    from conversations.models import Conversation

    live = make_conversation(alice, "still talking", status="live")
    alice_client.post(reverse("conversations:delete", args=[live.pk]))
    assert Conversation.objects.filter(pk=live.pk).exists()


def test_search_finds_conversations_by_what_was_said(alice_client, alice, bob, make_conversation):
    rockets = make_conversation(alice, "Tell me about rockets", "Rockets burn fuel to fly.")
    gardens = make_conversation(alice, "How do I grow tomatoes?", "Sun and water.")
    make_conversation(bob, "rockets are also Bob's topic", "yes")
    page = alice_client.get(reverse("conversations:list"), {"q": "rockets"}).content.decode()
    assert str(rockets.pk) in page
    assert str(gardens.pk) not in page
    assert "Bob" not in page
    # The reply's words count too.
    page = alice_client.get(reverse("conversations:list"), {"q": "water"}).content.decode()
    assert str(gardens.pk) in page and str(rockets.pk) not in page


def test_list_is_paginated(alice_client, alice, make_conversation):
    for i in range(23):
        make_conversation(alice, f"question {i}")
    first = alice_client.get(reverse("conversations:list")).content.decode()
    second = alice_client.get(reverse("conversations:list"), {"page": 2}).content.decode()
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert first.count("<tr>") - 1 == 20 and second.count("<tr>") - 1 == 3


def test_detail_shows_messages_and_turn_timings(alice_client, alice, make_conversation):
    from datetime import timedelta

    from conversations.models import Message

    mine = make_conversation(alice, "Hello there", "Hi! Nice to meet you.")
    question, answer = mine.messages.order_by("created_at", "id")
    Message.objects.filter(pk=question.pk).update(speech_end_at=question.created_at)
    Message.objects.filter(pk=answer.pk).update(
        first_token_at=question.created_at + timedelta(milliseconds=420)
    )
    page = alice_client.get(mine.get_absolute_url()).content.decode()
    assert "Hello there" in page and "Hi! Nice to meet you." in page
    assert "420 ms" in page


def test_export_json_contains_the_whole_exchange(alice_client, alice, make_conversation):
    mine = make_conversation(alice, "What is 2+2?", "It is four.")
    response = alice_client.get(reverse("conversations:export-json", args=[mine.pk]))
    assert response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert data["id"] == str(mine.pk) and data["avatar"] == "Ada"
    assert [(m["role"], m["text"]) for m in data["messages"]] == [
        ("user", "What is 2+2?"), ("assistant", "It is four.")
    ]
    assert "timings_ms" in data["messages"][1]
    assert "provider" not in json.dumps(data)  # provider handles stay on the server


def test_export_markdown_reads_as_a_transcript(alice_client, alice, make_conversation):
    mine = make_conversation(alice, "What is 2+2?", "It is four.")
    text = alice_client.get(reverse("conversations:export-markdown", args=[mine.pk])).content.decode()
    assert text.startswith("# Conversation with Ada")
    assert "**You**" in text and "What is 2+2?" in text
    assert "**Ada**" in text and "It is four." in text
