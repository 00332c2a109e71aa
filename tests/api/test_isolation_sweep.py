"""Every API route, found by walking the URL resolver (so a new route cannot be left out): an
anonymous caller gets 401, a missing, unknown or revoked token gets 401, another user's
objects are 404, and staff routes are 403 for everyone else."""

from __future__ import annotations

import inspect
import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from ninja.operation import PathView

from .conftest import error_of

pytestmark = pytest.mark.django_db

PUBLIC, USER, OWNED, STAFF = "public", "user", "owned", "staff"

# (method, route) -> who may call it. A route missing here fails test_the_table_lists_every_route.
ROUTES = {
    ("GET", "api/v1/"): PUBLIC,
    ("GET", "api/v1/openapi.json"): PUBLIC,
    ("GET", "api/v1/docs"): PUBLIC,
    ("GET", "api/v1/personas"): USER,
    ("POST", "api/v1/personas"): STAFF,
    ("GET", "api/v1/personas/<int:persona_id>"): USER,
    ("PATCH", "api/v1/personas/<int:persona_id>"): STAFF,
    ("GET", "api/v1/avatars"): USER,
    ("GET", "api/v1/avatars/<slug:slug>"): USER,
    ("GET", "api/v1/voices"): USER,
    ("GET", "api/v1/voices/<int:voice_id>"): USER,
    ("POST", "api/v1/sessions"): USER,
    ("GET", "api/v1/sessions/<uuidstr:conversation_id>"): OWNED,
    ("POST", "api/v1/sessions/<uuidstr:conversation_id>/text"): OWNED,
    ("POST", "api/v1/sessions/<uuidstr:conversation_id>/greeting"): OWNED,
    ("POST", "api/v1/sessions/<uuidstr:conversation_id>/interrupt"): OWNED,
    ("POST", "api/v1/sessions/<uuidstr:conversation_id>/stop"): OWNED,
    ("GET", "api/v1/conversations"): USER,
    ("GET", "api/v1/conversations/<uuidstr:conversation_id>"): OWNED,
    ("GET", "api/v1/conversations/<uuidstr:conversation_id>/export"): OWNED,
    ("DELETE", "api/v1/conversations/<uuidstr:conversation_id>"): OWNED,
}

# A valid body for each route that takes one, so that what is checked is who may call it.
BODIES = {
    ("POST", "api/v1/personas"): {"name": "Grace", "title": "admiral"},
    ("PATCH", "api/v1/personas/<int:persona_id>"): {"title": "changed"},
    ("POST", "api/v1/sessions"): {"avatar": "ada"},
    ("POST", "api/v1/sessions/<uuidstr:conversation_id>/text"): {
        "text": "Hello there, how are you?", "generate_ai_response": False,
    },
}


def methods_of(view) -> set[str]:
    """A Django Ninja view is a closure over its PathView, which knows each operation's methods;
    any other view (the schema, the docs, the index) only answers GET."""
    for cell in getattr(view, "__closure__", None) or ():
        if isinstance(cell.cell_contents, PathView):
            return {method for op in cell.cell_contents.operations for method in op.methods}
    return {"GET"}


def api_routes() -> set[tuple[str, str]]:
    """(method, route) of every URL pattern under api/v1/, from the resolver itself."""
    found = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
                methods = methods_of(inspect.unwrap(pattern.callback))
                found.update((method, route) for method in methods)

    walk(get_resolver().url_patterns, "")
    return found


def test_the_table_lists_every_route():
    assert api_routes() == set(ROUTES)


@pytest.fixture
def world(alice, bob, staff, avatar, voice, persona, make_conversation):
    """Alice owns an open conversation (with a message); Bob owns one of his own."""
    return {
        "persona_id": persona.pk,
        "slug": avatar.slug,
        "voice_id": voice.pk,
        "conversation_id": make_conversation(alice, "Hello", "Hi!", status="live").pk,
        "bobs": make_conversation(bob, "Mine").pk,
    }


def concrete(route: str, world: dict) -> str:
    path = "/" + route
    for name in world:
        for converter in ("int", "slug", "uuidstr"):
            path = path.replace(f"<{converter}:{name}>", str(world[name]))
    return path


def call(client, method: str, route: str, world: dict):
    body = BODIES.get((method, route))
    return client.generic(
        method, concrete(route, world),
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
    )


PROTECTED = sorted(key for key, kind in ROUTES.items() if kind != PUBLIC)


@pytest.mark.parametrize(("method", "route"), PROTECTED)
def test_an_anonymous_caller_gets_401(client, world, method, route):
    assert error_of(call(client, method, route, world)) == (401, "not_authenticated")


@pytest.mark.parametrize(("method", "route"), PROTECTED)
def test_a_revoked_token_gets_401(api_as, alice, world, method, route):
    from api.models import ApiToken

    token, secret = ApiToken.issue(alice, "old")
    token.revoke()
    assert error_of(call(api_as(token=secret), method, route, world)) == (401, "token_revoked")


@pytest.mark.parametrize(("method", "route"), PROTECTED)
def test_an_unknown_token_gets_401(api_as, world, method, route):
    response = call(api_as(token="lp_not-a-real-token"), method, route, world)
    assert error_of(response) == (401, "invalid_token")


@pytest.mark.parametrize(("method", "route"), PROTECTED)
def test_a_session_without_csrf_token_is_refused_for_writes(alice, world, method, route):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    response = call(browser, method, route, world)
    if method == "GET":
        assert response.status_code == 200  # reading needs no CSRF token
    else:
        assert error_of(response) == (403, "csrf_failed")


@pytest.mark.parametrize(
    ("method", "route"), sorted(key for key, kind in ROUTES.items() if kind == OWNED)
)
def test_another_users_objects_are_404(api_as, bob, world, method, route):
    from conversations.models import Conversation

    assert error_of(call(api_as(bob), method, route, world)) == (404, "not_found")
    alices = Conversation.objects.get(pk=world["conversation_id"])
    assert alices.status == "live" and alices.messages.count() == 2


@pytest.mark.parametrize(
    ("method", "route"), sorted(key for key, kind in ROUTES.items() if kind == STAFF)
)
def test_staff_routes_are_403_for_other_users(api_as, alice, world, method, route):
    from avatars.models import Persona

    before = list(Persona.objects.values())
    assert error_of(call(api_as(alice), method, route, world)) == (403, "staff_only")
    assert list(Persona.objects.values()) == before


@pytest.mark.parametrize(
    ("method", "route"), sorted(key for key, kind in ROUTES.items() if kind == STAFF)
)
def test_staff_may_call_staff_routes(api_as, staff, world, method, route):
    assert call(api_as(staff), method, route, world).status_code in (200, 201)


@pytest.mark.parametrize(
    ("method", "route"), sorted(key for key, kind in ROUTES.items() if kind == PUBLIC)
)
def test_public_routes_describe_the_api_to_anyone(client, method, route):
    assert call(client, method, route, {}).status_code == 200
