"""The providers' voice and presenter lists, fetched from their APIs and cached for the admin.

- D-ID: `GET /tts/voices` (https://docs.d-id.com/reference/voices): a JSON array of voices of
  its integrated TTS providers, each `{id, name, gender, locale, language, access, provider}`,
  newer ones with `languages: [{locale, language}]`. The local engine answers the same route
  with its Piper voice (provider `local`), so `DID_API_URL` decides whose list this is.
- D-ID Clips: `GET /clips/presenters` (https://docs.d-id.com/reference/getpresenters):
  `{"presenters": [{presenter_id, driver_id, gender, ...}]}`.
- HeyGen: `GET /v2/voices` with `x-api-key` (https://docs.heygen.com/reference/list-voices-v2):
  `{"error": null, "data": {"voices": [{voice_id, language, gender, name, preview_audio, ...}]}}`,
  where `language` is a name ("English"), not a tag.
- LiveAvatar: `GET /v1/voices?page=&page_size=` with `X-API-KEY`
  (https://docs.liveavatar.com/api-reference/voices/list-voices): `{code: 100, data: {count,
  results: [{id, name, language, gender, ...}], next, previous}, message}`.

Lists are cached in Django's cache for a day (they change rarely, and fetching D-ID's takes a
second or more); the admin's "Refresh provider lists" empties the cache. The admin runs in a
worker thread, so these fetches use httpx's blocking client.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import httpx
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

CACHE_SECONDS = 24 * 3600
ERROR_SECONDS = 60  # a failed fetch is remembered briefly, so admin pages don't stall on each load
FETCH_TIMEOUT = 5.0  # an admin page waits on this; a list that slow is better typed by hand
CACHE_PREFIX = "catalog:"
MAX_PAGES = 10  # LiveAvatar pages of 100: more voices than any picker should show
# "engine" is the local engine's own list (its Piper voices); "did" is D-ID's, fetched only when
# DID_API_URL is not the local engine (else it would be the engine's list again).
VOICE_SOURCES = ("engine", "did", "heygen", "liveavatar")
# The Voice providers each D-ID-shaped list may hold (Voice.Provider); others are left out.
SOURCE_PROVIDERS = {"engine": ("local",), "did": ("microsoft", "elevenlabs")}
SOURCE_OF_PROVIDER = {"microsoft": "did", "elevenlabs": "did", "local": "engine",
                      "heygen": "heygen", "liveavatar": "liveavatar"}


@dataclass(frozen=True)
class CatalogVoice:
    provider: str  # a Voice.Provider value
    voice_id: str
    name: str
    language: str  # a BCP-47 tag, or a vendor's language name ("English")
    gender: str = ""

    @property
    def label(self) -> str:
        gender = f", {self.gender}" if self.gender else ""
        return f"{self.name} ({self.language}{gender}; {self.provider})"


@dataclass(frozen=True)
class Presenter:
    presenter_id: str
    driver_id: str
    gender: str = ""
    idle_video: str = ""  # a loop of the presenter at rest (D-ID's and the engine's lists)


@dataclass
class Listing:
    """A fetched list, or why there is none."""

    items: list
    error: str = ""


# Parsing: pure, from each vendor's documented shape ------------------------------------------


def parse_did_voices(body, providers=("microsoft", "elevenlabs", "local")) -> list[CatalogVoice]:
    voices = []
    for item in body if isinstance(body, list) else []:
        if not isinstance(item, dict) or not item.get("id"):
            continue
        provider = str(item.get("provider") or "").lower()
        if provider not in providers:
            continue
        languages = item.get("languages") or [{}]
        first = languages[0] if isinstance(languages[0], dict) else {}
        locale = item.get("locale") or first.get("locale") or ""
        voices.append(CatalogVoice(provider, str(item["id"]), str(item.get("name") or item["id"]),
                                   str(locale), str(item.get("gender") or "").lower()))
    return voices


def parse_heygen_voices(body) -> list[CatalogVoice]:
    data = body.get("data") if isinstance(body, dict) else None
    items = data.get("voices") if isinstance(data, dict) else None
    return [
        CatalogVoice("heygen", str(item["voice_id"]), str(item.get("name") or item["voice_id"]),
                     str(item.get("language") or ""), str(item.get("gender") or "").lower())
        for item in items or []
        if isinstance(item, dict) and item.get("voice_id")
    ]


def parse_liveavatar_voices(body) -> tuple[list[CatalogVoice], bool]:
    """One page of voices, and whether there is another."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return [], False
    voices = [
        CatalogVoice("liveavatar", str(item["id"]), str(item.get("name") or item["id"]),
                     str(item.get("language") or ""), str(item.get("gender") or "").lower())
        for item in data.get("results") or []
        if isinstance(item, dict) and item.get("id")
    ]
    return voices, bool(data.get("next"))


def parse_did_presenters(body) -> list[Presenter]:
    items = body.get("presenters") if isinstance(body, dict) else None
    return [
        Presenter(str(item["presenter_id"]), str(item.get("driver_id") or ""),
                  str(item.get("gender") or "").lower(), str(item.get("idle_video") or ""))
        for item in items or []
        if isinstance(item, dict) and item.get("presenter_id")
    ]


# Fetching ---------------------------------------------------------------------------------------


def _did_headers(key: str | None = None) -> dict:
    return {"Authorization": f"Basic {key or settings.DID_API_KEY}", "Accept": "application/json"}


def engine_url() -> str:
    return f"http://{settings.ENGINE_HOST}:{settings.ENGINE_PORT}"


def did_is_engine() -> bool:
    # Function-level: the provider registry (and its clients) load only when a list is wanted.
    from streaming.providers.registry import is_local_engine

    return is_local_engine(settings.DID_API_URL)


def _get(client: httpx.Client, url: str, headers: dict, params: dict | None = None):
    response = client.get(url, headers=headers, params=params)
    response.raise_for_status()
    return response.json()


def _fetch_voices(source: str, client: httpx.Client) -> list[CatalogVoice]:
    if source == "engine":
        body = _get(client, engine_url() + "/tts/voices", _did_headers(settings.ENGINE_API_KEY))
        return parse_did_voices(body, SOURCE_PROVIDERS["engine"])
    if source == "did":
        body = _get(client, settings.DID_API_URL.rstrip("/") + "/tts/voices", _did_headers())
        return parse_did_voices(body, SOURCE_PROVIDERS["did"])
    if source == "heygen":
        body = _get(client, settings.HEYGEN_API_URL.rstrip("/") + "/v2/voices",
                    {"x-api-key": settings.HEYGEN_API_KEY, "Accept": "application/json"})
        return parse_heygen_voices(body)
    if source == "liveavatar":
        voices: list[CatalogVoice] = []
        url = settings.LIVEAVATAR_API_URL.rstrip("/") + "/v1/voices"
        headers = {"X-API-KEY": settings.LIVEAVATAR_API_KEY, "Accept": "application/json"}
        for page in range(1, MAX_PAGES + 1):
            found, more = parse_liveavatar_voices(
                _get(client, url, headers, {"page": page, "page_size": 100})
            )
            voices.extend(found)
            if not more:
                break
        return voices
    raise ValueError(f"unknown voice source {source!r}")


def configured(source: str) -> bool:
    """Whether `source` is in use: a key for it, and for D-ID a URL that isn't the engine."""
    if source == "engine":
        return True
    if source == "did" and did_is_engine():
        return False
    key = {"did": "DID_API_KEY", "heygen": "HEYGEN_API_KEY", "liveavatar": "LIVEAVATAR_API_KEY"}
    return bool(getattr(settings, key[source], ""))


def new_client() -> httpx.Client:
    """The HTTP client for one round of fetches (tests swap in a mock transport here)."""
    return httpx.Client(timeout=min(FETCH_TIMEOUT, settings.PROVIDER_TIMEOUT))


def _cached(key: str, fetch, client: httpx.Client | None) -> Listing:
    found = cache.get_many([CACHE_PREFIX + key, CACHE_PREFIX + key + ":error"])
    if CACHE_PREFIX + key in found:
        return Listing(found[CACHE_PREFIX + key])
    if CACHE_PREFIX + key + ":error" in found:
        return Listing([], found[CACHE_PREFIX + key + ":error"])
    own = client is None
    client = client or new_client()
    try:
        items = fetch(client)
    except (httpx.HTTPError, ValueError) as exc:
        log.warning("catalog %s could not be fetched: %s", key, type(exc).__name__)
        error = f"The list could not be fetched ({_reason(exc)})."
        cache.set(CACHE_PREFIX + key + ":error", error, ERROR_SECONDS)
        return Listing([], error)
    finally:
        if own:
            client.close()
    cache.set(CACHE_PREFIX + key, items, CACHE_SECONDS)
    return Listing(items)


def _reason(exc: Exception) -> str:
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.HTTPError):
        return type(exc).__name__
    return "unreadable answer"


def voices(source: str, *, client: httpx.Client | None = None) -> Listing:
    """The voices of one source (cached); an empty Listing when it is not in use."""
    if not configured(source):
        return Listing([], "This provider is not configured.")
    return _cached(f"voices:{source}", lambda c: _fetch_voices(source, c), client)


def all_voices(*, client: httpx.Client | None = None) -> tuple[list[CatalogVoice], dict]:
    """Every configured source's voices, and the errors by source."""
    found, errors = [], {}
    for source in VOICE_SOURCES:
        if not configured(source):
            continue
        listing = voices(source, client=client)
        found.extend(listing.items)
        if listing.error:
            errors[source] = listing.error
    return found, errors


def presenters(*, client: httpx.Client | None = None) -> Listing:
    """D-ID's (or the engine's) Clips presenters, cached."""
    url = settings.DID_API_URL.rstrip("/") + "/clips/presenters"
    return _cached("presenters:did",
                   lambda c: parse_did_presenters(_get(c, url, _did_headers())), client)


def refresh() -> None:
    """Forget every cached list; the next admin page fetches them again."""
    keys = [f"{CACHE_PREFIX}voices:{source}" for source in VOICE_SOURCES]
    keys.append(f"{CACHE_PREFIX}presenters:did")
    cache.delete_many(keys + [key + ":error" for key in keys])


def as_json(items: list) -> list[dict]:
    """For the admin page's picker script."""
    return [asdict(item) | ({"label": item.label} if hasattr(item, "label") else {})
            for item in items]
