"""Shared fixtures: users, a demo avatar with a real photo, conversations with messages."""

from __future__ import annotations

import inspect
import io
import uuid

import pytest
from django.core.files.base import ContentFile


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup):
    """The test database, and at the end of the run no connection to it left open: the ORM
    calls of async tests (and of the Celery tasks' loop) run on asgiref's one sync thread, whose
    connection nobody closes, and PostgreSQL refuses to drop a database someone is using."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    # A connection is closed by the thread that opened it.
    SyncToAsync.single_thread_executor.submit(connections.close_all).result()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _own_quotas(settings):
    """Quotas live in Redis, which outlives a test database: give each test fresh counters,
    or the user ids a new test database reuses would inherit earlier runs' use."""
    settings.QUOTA_KEY_PREFIX = f"livepersona:test-quota:{uuid.uuid4().hex}"


def _png(color=(200, 150, 120)) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password="alice-pass-123")


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password="bob-pass-123")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user(
        "staffer", password="staff-pass-123", is_staff=True, is_superuser=True
    )


@pytest.fixture
def persona():
    from avatars.models import Persona

    return Persona.objects.create(
        name="Ada",
        title="software engineer",
        education_degree="BSc Computer Science",
        education_year="2020",
        education_institution="Cambridge",
        languages=["Python", "Rust"],
        web_stack=["Django"],
        projects=["a compiler"],
        style="friendly",
        interests=["math"],
        goals=["teach"],
        traits=["curious"],
        instructions="Never reveal the secret word.",
    )


@pytest.fixture
def voice():
    from avatars.models import Voice

    return Voice.objects.create(name="Joe", provider="local", voice_id="en_US-joe-medium")


@pytest.fixture
def avatar(persona, voice):
    from avatars.models import Avatar

    avatar = Avatar(name="Ada", slug="ada", provider="did_talks", persona=persona, voice=voice)
    avatar.source_image.save("ada.png", ContentFile(_png()), save=False)
    avatar.save()
    return avatar


@pytest.fixture
def make_conversation(avatar):
    from conversations.models import Conversation, Message

    def make(user, *said: str, status="ended", **fields):
        conversation = Conversation.objects.create(user=user, avatar=avatar, status=status, **fields)
        question = None
        for i, text in enumerate(said):
            role = Message.Role.USER if i % 2 == 0 else Message.Role.ASSISTANT
            saved = Message.objects.create(
                conversation=conversation, role=role, text=text,
                source=Message.Source.TEXT if role == Message.Role.USER else Message.Source.LLM,
                reply_to=question if role == Message.Role.ASSISTANT else None,
            )
            question = saved
        return conversation

    return make


def pytest_collection_modifyitems(config, items):
    """The fast unit layer first (pure modules, no sockets: a failure shows in seconds), browser
    tests last: Playwright's sync API keeps an event loop running in the main thread for as long
    as its driver lives (a session fixture), and async tests cannot run inside it. So among the
    end-to-end files, those with async tests (the fault injection) run before the others, whole
    (their module-scoped stack is started once)."""
    async_e2e = {
        item.path for item in items
        if item.get_closest_marker("e2e") is not None
        and inspect.iscoroutinefunction(getattr(item, "obj", None))
    }

    def layer(item) -> int:
        if item.get_closest_marker("e2e") is not None:
            return 2 if item.path in async_e2e else 3
        return 0 if item.nodeid.startswith("tests/unit/") else 1

    items.sort(key=layer)
