"""The providers' voice and presenter lists: requested as each vendor documents, parsed, cached.

Answers come from fixtures/catalogs.json, each citing its doc page; the engine's own list is
tested against the engine in tests/engine/test_catalog.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from avatars import catalog
from engine import catalog as engine_catalog

FIXTURES = json.loads((Path(__file__).parent / "fixtures" / "catalogs.json").read_text())
DID = "https://api.d-id.example"
HEYGEN = "https://api.heygen.example"
LIVEAVATAR = "https://api.liveavatar.example"


@pytest.fixture(autouse=True)
def fresh_cache():
    catalog.refresh()
    yield
    catalog.refresh()


@pytest.fixture
def vendors(settings, monkeypatch):
    """Every source configured, answered by a fake that checks the documented auth headers."""
    settings.DID_API_URL, settings.DID_API_KEY = DID, "did-key"
    settings.HEYGEN_API_URL, settings.HEYGEN_API_KEY = HEYGEN, "heygen-key"
    settings.LIVEAVATAR_API_URL, settings.LIVEAVATAR_API_KEY = LIVEAVATAR, "la-key"
    settings.ENGINE_API_KEY = "engine-key"
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        url = str(request.url)
        if url.startswith(DID + "/tts/voices"):
            assert request.headers["authorization"] == "Basic did-key"
            return httpx.Response(200, json=FIXTURES["did_voices"]["response"])
        if url.startswith(DID + "/clips/presenters"):
            assert request.headers["authorization"] == "Basic did-key"
            return httpx.Response(200, json=FIXTURES["did_presenters"]["response"])
        if url.startswith(HEYGEN + "/v2/voices"):
            assert request.headers["x-api-key"] == "heygen-key"
            return httpx.Response(200, json=FIXTURES["heygen_voices"]["response"])
        if url.startswith(LIVEAVATAR + "/v1/voices"):
            assert request.headers["x-api-key"] == "la-key"
            page = int(request.url.params["page"])
            assert request.url.params["page_size"] == "100"
            return httpx.Response(200, json=FIXTURES["liveavatar_voices"]["pages"][page - 1])
        if request.url.path == "/tts/voices":  # the local engine
            assert request.headers["authorization"] == "Basic engine-key"
            return httpx.Response(200, json=engine_catalog.voices())
        return httpx.Response(404, json={"kind": "NotFoundError"})

    monkeypatch.setattr(catalog, "new_client",
                        lambda: httpx.Client(transport=httpx.MockTransport(answer)))
    return seen


def test_every_source_is_listed_with_its_voice_providers(vendors):
    voices, errors = catalog.all_voices()
    assert errors == {}
    by_id = {v.voice_id: v for v in voices}
    assert by_id["en_US-joe-medium"].provider == "local"
    assert by_id["en-US-JennyNeural"] == catalog.CatalogVoice(
        "microsoft", "en-US-JennyNeural", "Jenny", "en-US", "female")
    assert by_id["21m00Tcm4TlvDq8ikWAM"].language == "en-US"  # from `languages`
    assert "Amy" not in by_id  # amazon: not a provider our Voice model offers
    assert by_id["73c0b6a2e29d4d38aca41454bf58c955"].language == "English"
    assert {by_id[i].provider for i in ("3c90c3cc-0d44-4b50-8888-8dd25736052a",
                                        "9b1deb4d-3b7d-4bad-9bdd-2b0d7b3dcb6d")} == {"liveavatar"}


def test_lists_are_cached_until_refreshed(vendors):
    catalog.all_voices()
    fetched = len(vendors)
    assert fetched == 5  # engine, D-ID, HeyGen, and LiveAvatar's two pages
    catalog.all_voices()
    assert len(vendors) == fetched
    catalog.refresh()
    catalog.all_voices()
    assert len(vendors) == 2 * fetched


def test_d_id_is_not_asked_when_its_url_is_the_local_engine(vendors, settings):
    settings.DID_API_URL = f"http://{settings.ENGINE_HOST}:{settings.ENGINE_PORT}"
    voices, _ = catalog.all_voices()
    assert not any(v.provider == "microsoft" for v in voices)
    assert not any(str(r.url).startswith(DID) for r in vendors)


def test_unconfigured_sources_are_skipped(vendors, settings):
    settings.HEYGEN_API_KEY = settings.LIVEAVATAR_API_KEY = ""
    voices, errors = catalog.all_voices()
    assert {v.provider for v in voices} == {"local", "microsoft", "elevenlabs"}
    assert errors == {}


def test_presenters_come_with_their_drivers(vendors):
    listing = catalog.presenters()
    assert listing.error == ""
    assert listing.items[0] == catalog.Presenter("v2_public_amber@Y5K02DLS4m", "uM00QMwJ9x", "female")


def test_a_failing_source_says_why_and_is_not_retried_at_once(settings, monkeypatch):
    settings.DID_API_URL, settings.DID_API_KEY = DID, "wrong"
    settings.HEYGEN_API_KEY = settings.LIVEAVATAR_API_KEY = ""
    calls = []

    def refuse(request):
        calls.append(request)
        return httpx.Response(401, json={"kind": "AuthorizationError"})

    monkeypatch.setattr(catalog, "new_client",
                        lambda: httpx.Client(transport=httpx.MockTransport(refuse)))
    voices, errors = catalog.all_voices()
    assert voices == []
    assert errors == {"engine": "The list could not be fetched (HTTP 401).",
                      "did": "The list could not be fetched (HTTP 401)."}
    catalog.all_voices()
    assert len(calls) == 2  # the failure is remembered for a minute


@pytest.mark.parametrize("body", [{"voices": "nope"}, "text", None, [1, {"name": "no id"}]])
def test_odd_answers_give_empty_lists_not_errors(body):
    assert catalog.parse_did_voices(body) == []
    assert catalog.parse_heygen_voices(body) == []
    assert catalog.parse_liveavatar_voices(body) == ([], False)
    assert catalog.parse_did_presenters(body) == []
