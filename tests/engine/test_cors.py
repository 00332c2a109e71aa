"""CORS on the engine's public port: browsers on allowed origins may call it, others are blocked.

D-ID's API answers CORS (its streaming demo calls https://api.d-id.com from a web page); so does
the engine, for the origins in ENGINE_CORS_ORIGINS. Checked on the one-process app (the vendor
routes, a 401) and on the parent's proxy in front of stand-in children (JSON, server-sent
events, a child's 503), which is what listens on the engine's port.
"""

from __future__ import annotations

import logging

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine import cors
from engine.config import EngineConfig
from engine.proxy import build_proxy
from engine.server import build_app
from engine.supervisor import Supervisor

from .test_proxy import engine  # noqa: F401 - the proxy in front of stand-in children

KEY = "cors-test-key"
ALLOWED = "http://app.test:8080"
PREFLIGHT = {
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization,content-type",
}


class NoAvatars:
    async def from_image(self, *args, **kwargs):
        raise AssertionError("no stream in these tests")

    from_presenter = from_image


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.0.0.1:53211", True),
        ("http://localhost:3000", True),
        ("http://[::1]:9000", True),
        ("http://127.0.0.1", True),  # port 80 is a port too
        ("https://talk.example.org", True),  # the product's own (PUBLIC_BASE_URL)
        ("https://talk.example.org:443", True),
        ("http://talk.example.org", False),  # another scheme is another origin
        ("https://evil.example.org", False),
        ("https://talk.example.org.evil.example", False),
        ("http://127.0.0.2:8000", False),
        ("null", False),  # a sandboxed frame or a file:// page
        ("", False),
    ],
)
def test_the_default_origins_are_the_products_own_and_loopback(origin, allowed):
    config = EngineConfig.from_env({"PUBLIC_BASE_URL": "https://talk.example.org/"})
    assert cors.is_allowed(origin, cors.normalise(config.cors_origins)) is allowed


def test_engine_cors_origins_replaces_the_defaults():
    config = EngineConfig.from_env(
        {"ENGINE_CORS_ORIGINS": " https://a.example , http://b.example:*,", "PUBLIC_BASE_URL":
         "https://talk.example.org"}
    )
    allowed = cors.normalise(config.cors_origins)
    assert cors.is_allowed("https://a.example", allowed)
    assert cors.is_allowed("http://b.example:5173", allowed)
    assert not cors.is_allowed("https://talk.example.org", allowed)
    assert not cors.is_allowed("http://127.0.0.1:8000", allowed)
    assert cors.is_allowed("https://anything.example", cors.normalise(["*"]))
    assert not cors.is_allowed("null", cors.normalise(["*"]))


def test_an_entry_that_is_not_an_origin_is_dropped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="engine.cors"):
        assert cors.normalise(["app.test", "ftp://x.example"]) == frozenset()
    assert "'app.test' is not an origin" in caplog.text


def test_the_origins_survive_the_trip_to_the_children():
    config = EngineConfig(cors_origins=frozenset({"https://a.example", "http://b.example:*"}))
    assert EngineConfig.from_json(config.to_json()).cors_origins == config.cors_origins


@pytest.fixture
async def app_client():
    config = EngineConfig(api_key=KEY, loopback_ice=False,
                          cors_origins=frozenset({ALLOWED, *cors.LOOPBACK_ORIGINS}))
    app = build_app(config, avatars=NoAvatars(), optional_modules=())
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def test_a_preflight_from_an_allowed_origin_is_answered_without_a_key(app_client):
    response = await app_client.options("/talks/streams", headers={"Origin": ALLOWED, **PREFLIGHT})
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert "Origin" in response.headers["Vary"]


async def test_a_preflight_from_another_origin_gets_no_cors_headers_and_a_log_line(
    app_client, caplog
):
    with caplog.at_level(logging.INFO, logger="engine.cors"):
        response = await app_client.options(
            "/talks/streams", headers={"Origin": "https://evil.example", **PREFLIGHT}
        )
    assert response.status == 403
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers
    assert "https://evil.example" in caplog.text


async def test_answers_and_errors_carry_the_allowed_origin(app_client):
    auth = {"Authorization": f"Basic {KEY}", "Origin": ALLOWED}
    voices = await app_client.get("/tts/voices", headers=auth)
    assert voices.status == 200
    assert voices.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Origin" in voices.headers["Vary"]

    refused = await app_client.get("/tts/voices", headers={"Origin": ALLOWED})
    assert refused.status == 401  # the browser can read D-ID's AuthorizationError
    assert refused.headers["Access-Control-Allow-Origin"] == ALLOWED
    missing = await app_client.get("/no/such/route", headers={"Origin": ALLOWED})
    assert missing.status == 404
    assert missing.headers["Access-Control-Allow-Origin"] == ALLOWED


async def test_another_origins_answers_carry_no_allow_origin(app_client, caplog):
    with caplog.at_level(logging.INFO, logger="engine.cors"):
        response = await app_client.get(
            "/tts/voices",
            headers={"Authorization": f"Basic {KEY}", "Origin": "https://evil.example"},
        )
    assert response.status == 200  # not a browser: nothing to stop; a browser hides the answer
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "https://evil.example" in caplog.text
    plain = await app_client.get("/tts/voices", headers={"Authorization": f"Basic {KEY}"})
    assert "Access-Control-Allow-Origin" not in plain.headers


async def test_the_public_port_answers_preflights_itself(engine):  # noqa: F811
    response = await engine.options(
        "/talks/streams", headers={"Origin": "http://127.0.0.1:5000", **PREFLIGHT}
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:5000"
    assert "X-Child" not in response.headers  # no child saw it


async def test_the_public_port_adds_the_origin_to_json_events_and_outages(engine):  # noqa: F811
    origin = {"Origin": "http://localhost:3000"}
    relayed = await engine.post("/talks/streams", json={}, headers=origin)
    assert relayed.headers["X-Child"] == "media"
    assert relayed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"

    events = await engine.post("/openai/v1/chat/completions", json={}, headers=origin)
    assert events.headers["Content-Type"].startswith("text/event-stream")
    assert events.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert (await events.text()).endswith("data: [DONE]\n\n")

    engine.supervisor.children["llm"].ready = False
    down = await engine.post("/openai/v1/chat/completions", json={}, headers=origin)
    assert down.status == 503
    assert down.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"

    other = await engine.post("/talks/streams", json={}, headers={"Origin": "https://x.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


async def test_the_proxy_takes_its_origins_from_the_config(tmp_path):
    supervisor = Supervisor(EngineConfig(cors_origins=frozenset({ALLOWED})), tmp_path)
    async with TestClient(TestServer(build_proxy(supervisor), host="127.0.0.1")) as client:
        allowed = await client.options("/talks/streams", headers={"Origin": ALLOWED, **PREFLIGHT})
        loopback = await client.options(
            "/talks/streams", headers={"Origin": "http://127.0.0.1:8000", **PREFLIGHT}
        )
    assert allowed.status == 204
    assert loopback.status == 403  # ENGINE_CORS_ORIGINS was set: only what it lists
