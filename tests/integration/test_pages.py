"""Login everywhere, the avatar picker, the admin for staff only."""

import pytest
from django.urls import reverse

from agents.models import Agent
from avatars.models import Avatar

pytestmark = pytest.mark.django_db

PRODUCT_PAGES = [
    ("frontend:avatar-list", []),
    ("frontend:talk", ["ada"]),
    ("conversations:list", []),
]


@pytest.mark.parametrize(("name", "args"), PRODUCT_PAGES)
def test_every_product_page_requires_login(client, avatar, name, args):
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_conversation_pages_require_login(client, alice, make_conversation):
    mine = make_conversation(alice, "hi")
    for name in ("conversations:detail", "conversations:export-json",
                 "conversations:export-markdown", "conversations:delete"):
        response = client.get(reverse(name, args=[mine.pk]))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_starting_a_session_requires_login(client, avatar):
    response = client.post(reverse("frontend:start-session", args=["ada"]))
    assert response.status_code == 302


def test_login_page_renders_and_logs_in(client, alice):
    page = client.get(reverse("login"))
    assert page.status_code == 200 and b"Log in" in page.content
    response = client.post(reverse("login"), {"username": "alice", "password": "alice-pass-123"})
    assert response.status_code == 302 and response["Location"] == reverse("frontend:avatar-list")


def test_avatar_picker_shows_cards_with_image_name_provider_and_voice(client, alice, avatar):
    client.force_login(alice)
    page = client.get(reverse("frontend:avatar-list")).content.decode()
    assert "Ada" in page
    assert avatar.source_image.url in page
    assert "D-ID Talks stream (photo)" in page
    assert "Joe" in page


def test_inactive_avatars_are_hidden(client, alice, avatar):
    avatar.is_active = False
    avatar.save()
    client.force_login(alice)
    assert b'data-avatar="ada"' not in client.get(reverse("frontend:avatar-list")).content
    assert client.get(reverse("frontend:talk", args=["ada"])).status_code == 404


def test_live_page_never_contains_an_api_key(client, alice, avatar, settings):
    settings.DID_API_KEY = "did-secret-value-123"
    settings.GROQ_API_KEY = "gsk_secret_value_456"
    settings.DEEPGRAM_API_KEY = "dg-secret-value-789"
    client.force_login(alice)
    page = client.get(reverse("frontend:talk", args=["ada"])).content.decode()
    for secret in ("did-secret-value-123", "gsk_secret_value_456", "dg-secret-value-789"):
        assert secret not in page


def test_start_session_creates_a_connecting_conversation_within_the_limit(client, alice, avatar, settings):
    from conversations.models import Conversation

    settings.MAX_LIVE_SESSIONS_PER_USER = 2
    client.force_login(alice)
    url = reverse("frontend:start-session", args=["ada"])
    first, second, third = (client.post(url) for _ in range(3))
    assert first.status_code == 201 and second.status_code == 201
    assert third.status_code == 429 and third.json()["error"] == "session_limit"
    created = Conversation.objects.get(pk=first.json()["conversation"])
    assert created.user == alice and created.status == "connecting"
    assert first.json()["websocket"] == f"/ws/sessions/{created.pk}/"


ADMIN_PAGES = [
    "admin:index",
    "admin:avatars_avatar_changelist",
    "admin:avatars_avatar_add",
    "admin:avatars_voice_changelist",
    "admin:avatars_persona_changelist",
    "admin:conversations_conversation_changelist",
]


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_pages_render_for_staff(client, staff, avatar, name):
    client.force_login(staff)
    assert client.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_is_refused_to_non_staff(client, alice, name):
    client.force_login(alice)
    response = client.get(reverse(name))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_admin_avatar_change_page_previews_the_image(client, staff, avatar):
    client.force_login(staff)
    page = client.get(reverse("admin:avatars_avatar_change", args=[avatar.pk])).content.decode()
    assert avatar.source_image.url in page


def test_admin_persona_page_shows_the_rendered_system_prompt(client, staff, persona):
    client.force_login(staff)
    page = client.get(reverse("admin:avatars_persona_change", args=[persona.pk])).content.decode()
    assert "You are Ada, software engineer." in page


def test_admin_refuses_a_clips_avatar_without_presenter(client, staff, voice):
    from avatars.models import Avatar

    client.force_login(staff)
    response = client.post(reverse("admin:avatars_avatar_add"), {
        "name": "Clip", "slug": "clip", "provider": "did_clips", "is_active": "on",
        "compatibility_mode": "on", "session_timeout": 300, "pad_audio": 0,
    })
    assert response.status_code == 200
    assert "needs a D-ID presenter id" in response.content.decode()
    assert not Avatar.objects.filter(slug="clip").exists()


def test_admin_conversation_is_read_only_with_messages_inline(client, staff, alice, make_conversation):
    conversation = make_conversation(alice, "inline question", "inline answer")
    client.force_login(staff)
    page = client.get(
        reverse("admin:conversations_conversation_change", args=[conversation.pk])
    ).content.decode()
    assert "inline question" in page and "inline answer" in page
    assert 'name="_save"' not in page
    filtered = client.get(reverse("admin:conversations_conversation_changelist"),
                          {"status__exact": "ended", "q": "inline"})
    assert filtered.status_code == 200 and str(conversation.pk) in filtered.content.decode()


def test_an_agents_live_page_offers_its_starter_messages_as_buttons(client, alice, persona):
    agent = Agent.objects.create(
        name="Keeper", source_url="https://example.com/k.jpg", instructions="Be brief.",
        starter_messages=["Who keeps the lighthouse?", "  When does it <light> up?  "],
    )
    Avatar.objects.create(name="Keeper", slug="keeper", provider="did_agents",
                          managed_agent=agent, persona=persona)
    client.force_login(alice)
    response = client.get(reverse("frontend:talk", args=["keeper"]))
    assert response.context["starters"] == ["Who keeps the lighthouse?", "When does it <light> up?"]
    page = response.content.decode()
    assert page.count('class="starter"') == 2
    # Escaped, and the text a click sends is exactly the starter's.
    assert 'data-starter="When does it &lt;light&gt; up?"' in page


def test_a_live_page_without_an_agent_has_no_starter_buttons(client, alice, avatar):
    client.force_login(alice)
    response = client.get(reverse("frontend:talk", args=["ada"]))
    assert response.context["starters"] == []
    assert 'id="starters"' not in response.content.decode()
