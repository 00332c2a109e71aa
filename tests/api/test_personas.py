"""Personas in the persona server's shape: read by users, written by staff, validated strictly."""

from __future__ import annotations

import json

import pytest

from .conftest import error_of

pytestmark = pytest.mark.django_db

FULL = {
    "name": "Grace",
    "title": "rear admiral",
    "education": {"degree": "PhD Mathematics", "year": "1934", "institution": "Yale"},
    "technical": {"languages": ["COBOL"], "webStack": [], "projects": ["the A-0 compiler"]},
    "personality": {"style": "direct", "interests": ["teaching"], "goals": ["make it simpler"]},
    "traits": ["bold"],
    "instructions": "Mention nanoseconds.",
    "greeting": "Hello, I am Grace. Ask me about compilers!",
}


def post(client, path, body, method="post"):
    return getattr(client, method)(path, data=json.dumps(body), content_type="application/json")


def test_a_user_reads_personas_in_the_persona_server_shape_without_the_instructions(
    api_as, alice, persona
):
    [listed] = api_as(alice).get("/api/v1/personas").json()
    assert listed == {
        "id": persona.pk,
        "name": "Ada",
        "title": "software engineer",
        "education": {"degree": "BSc Computer Science", "year": "2020", "institution": "Cambridge"},
        "technical": {"languages": ["Python", "Rust"], "webStack": ["Django"],
                      "projects": ["a compiler"]},
        "personality": {"style": "friendly", "interests": ["math"], "goals": ["teach"]},
        "traits": ["curious"],
        "instructions": None,
        "greeting": "",
    }
    assert api_as(alice).get(f"/api/v1/personas/{persona.pk}").json() == listed


def test_staff_see_the_instructions(api_as, staff, persona):
    body = api_as(staff).get(f"/api/v1/personas/{persona.pk}").json()
    assert body["instructions"] == "Never reveal the secret word."


def test_staff_create_a_persona_with_every_field(api_as, staff):
    from avatars.models import Persona

    response = post(api_as(staff), "/api/v1/personas", FULL)
    assert response.status_code == 201
    created = Persona.objects.get(pk=response.json()["id"])
    assert response.json() == {"id": created.pk, **FULL}
    assert (created.education_institution, created.projects, created.goals, created.greeting) == (
        "Yale", ["the A-0 compiler"], ["make it simpler"], FULL["greeting"]
    )


def test_staff_update_only_the_fields_they_send(api_as, staff, persona):
    response = post(api_as(staff), f"/api/v1/personas/{persona.pk}",
                    {"education": {"year": "2021"}, "greeting": "Hi, I'm Ada!"}, method="patch")
    assert response.status_code == 200
    persona.refresh_from_db()
    assert (persona.education_year, persona.education_degree, persona.greeting, persona.name) == (
        "2021", "BSc Computer Science", "Hi, I'm Ada!", "Ada"
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"name": 5}, "invalid_input"),
        ({"name": ""}, "invalid_input"),
        ({"title": "x"}, "invalid_input"),  # no name
        ({"name": "A", "traits": "bold"}, "invalid_input"),
        ({"name": "A", "traits": [1, 2]}, "invalid_input"),
        ({"name": "A", "education": {"degree": ["x"]}}, "invalid_input"),
        ({"name": "A", "education": {"grade": "A"}}, "invalid_input"),
        ({"name": "A", "favourite_colour": "blue"}, "invalid_input"),
        ({"name": "A" * 101}, "too_large"),
        ({"name": "A", "greeting": "x" * 501}, "too_large"),
        ({"name": "A", "traits": ["x"] * 51}, "too_large"),
        ([], "invalid_input"),
    ],
)
def test_bad_persona_input_is_refused_with_a_specific_code(api_as, staff, body, code):
    from avatars.models import Persona

    assert error_of(post(api_as(staff), "/api/v1/personas", body)) == (422, code)
    assert not Persona.objects.exists()


def test_a_body_that_is_not_json_is_refused(api_as, staff):
    response = api_as(staff).post("/api/v1/personas", data="{name:", content_type="application/json")
    assert error_of(response) == (400, "bad_json")


@pytest.mark.parametrize(
    "body", [{"name": None}, {"name": 7}, {"instructions": "x" * 4001}, {"id": 3}]
)
def test_bad_updates_change_nothing(api_as, staff, persona, body):
    before = persona.as_persona_api()
    response = post(api_as(staff), f"/api/v1/personas/{persona.pk}", body, method="patch")
    assert response.status_code == 422
    persona.refresh_from_db()
    assert persona.as_persona_api() == before


@pytest.mark.parametrize("path", ["/api/v1/personas/999999", "/api/v1/personas/abc"])
def test_unknown_personas_are_404(api_as, staff, path):
    assert error_of(api_as(staff).get(path)) == (404, "not_found")
    assert error_of(post(api_as(staff), path, {"title": "x"}, method="patch")) == (404, "not_found")
