"""The API's edges: the error shape everywhere, quotas, CORS, and its self-description."""

from __future__ import annotations

import json

import pytest

from .conftest import error_of

pytestmark = pytest.mark.django_db


def test_a_wrong_method_is_a_json_405(api_as, alice):
    response = api_as(alice).put("/api/v1/personas", data="{}", content_type="application/json")
    assert error_of(response) == (405, "method_not_allowed")
    assert "GET" in response["Allow"]


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v2/personas", "/api/"])
def test_an_unknown_api_path_is_a_json_404(client, path):
    assert error_of(client.get(path)) == (404, "not_found")


def test_an_oversized_body_is_a_413(api_as, alice, make_conversation, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    live = make_conversation(alice, status="live")
    body = json.dumps({"text": "x" * 20_000})
    response = api_as(alice).post(f"/api/v1/sessions/{live.pk}/text", data=body,
                                  content_type="application/json")
    assert error_of(response) == (413, "too_large")


def test_an_unexpected_failure_is_a_json_500_without_a_traceback(api_as, alice, monkeypatch,
                                                                caplog):
    from api.endpoints import catalog

    def broken(*args):
        raise RuntimeError("database exploded at line 42")

    monkeypatch.setattr(catalog, "_avatars", broken)
    response = api_as(alice).get("/api/v1/avatars")
    assert error_of(response) == (500, "server_error")
    assert "exploded" not in response.content.decode()
    assert "exploded" in caplog.text  # logged for us, not shown to the caller


def test_requests_past_the_per_user_quota_are_429_for_that_user_only(
    api_as, alice, bob, settings
):
    settings.API_REQUESTS_PER_MINUTE = 2
    client = api_as(alice)
    assert [client.get("/api/v1/voices").status_code for _ in range(2)] == [200, 200]
    response = client.get("/api/v1/voices")
    assert error_of(response) == (429, "throttled")
    assert int(response["Retry-After"]) > 0
    assert api_as(bob).get("/api/v1/voices").status_code == 200


def test_the_quota_counts_the_user_not_the_token(api_as, token_for, alice, settings):
    settings.API_REQUESTS_PER_MINUTE = 2
    for _ in range(2):
        assert api_as(alice).get("/api/v1/voices").status_code == 200  # a new token each time
    assert api_as(alice).get("/api/v1/voices").status_code == 429


def test_typed_messages_share_the_websockets_per_minute_quota(
    api_as, alice, make_conversation, settings
):
    settings.CHAT_MESSAGES_PER_MINUTE = 1
    live = make_conversation(alice, status="live")
    client = api_as(alice)
    body = json.dumps({"text": "Hello there", "generate_ai_response": False})
    path = f"/api/v1/sessions/{live.pk}/text"
    first = client.post(path, data=body, content_type="application/json")
    assert error_of(first) == (409, "stream_not_ready")  # counted, though nothing to say it on
    second = client.post(path, data=body, content_type="application/json")
    assert error_of(second) == (429, "throttled")


def test_cors_is_closed_by_default(api_as, alice):
    response = api_as(alice).get("/api/v1/voices", headers={"Origin": "https://elsewhere.test"})
    assert "Access-Control-Allow-Origin" not in response


def test_cors_opens_to_configured_origins_only(api_as, alice, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.test"]
    client = api_as(alice)
    allowed = client.get("/api/v1/voices", headers={"Origin": "https://app.example.test"})
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.test"
    other = client.get("/api/v1/voices", headers={"Origin": "https://elsewhere.test"})
    assert "Access-Control-Allow-Origin" not in other
    preflight = client.options(
        "/api/v1/sessions", headers={"Origin": "https://app.example.test",
                                     "Access-Control-Request-Method": "POST",
                                     "Access-Control-Request-Headers": "authorization"},
    )
    assert preflight["Access-Control-Allow-Origin"] == "https://app.example.test"
    assert "authorization" in preflight["Access-Control-Allow-Headers"]


def test_the_schema_describes_every_route_and_the_bearer_token(client):
    schema = client.get("/api/v1/openapi.json").json()
    assert schema["info"]["title"] == "LivePersona API"
    assert "/api/v1/sessions/{conversation_id}/text" in schema["paths"]
    assert {"ApiTokenAuth", "BrowserSession"} <= set(schema["components"]["securitySchemes"])
    text_in = schema["components"]["schemas"]["TextIn"]["properties"]
    assert text_in["text"]["maxLength"] == 2000


def test_the_schema_names_a_message_s_id_message_id_as_the_websocket_frames_do(client):
    """`message` is text for people (errors, frames); a Message's id is `message_id` everywhere."""
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    spoken = schemas["SpokenOut"]
    assert "message_id" in spoken["properties"] and "message_id" in spoken["required"]
    for name, schema in schemas.items():
        message = schema.get("properties", {}).get("message", {})
        assert message.get("type") != "integer", f"{name}.message is an id; call it message_id"


def test_the_docs_page_is_served(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200 and b"swagger" in response.content.lower()


def test_the_browser_uses_its_session_with_the_csrf_token(alice, avatar):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    browser.get("/account/api-tokens/")  # any page with a form sets the csrftoken cookie
    response = browser.post(
        "/api/v1/sessions", data=json.dumps({"avatar": "ada"}), content_type="application/json",
        headers={"X-CSRFToken": browser.cookies["csrftoken"].value},
    )
    assert response.status_code == 201
