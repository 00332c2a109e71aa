"""The local engine's settings, read from the environment.

The engine is its own program and imports nothing from Django, so it reads the same variable
names the Django settings use straight from the environment; `manage.py run_engine` may fill the
gaps (the media root) from Django settings.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

LOCAL_ENGINE_KEY = "local-engine-key"  # not a secret: the offline engine's default shared key

# The product's own address in development (config/settings.py's PUBLIC_BASE_URL default).
DEFAULT_PUBLIC_BASE_URL = "http://127.0.0.1:8000"
# Browser origins always allowed to call the engine (engine/cors.py): loopback, any port.
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
# 16.8 megapixels: a 4096 x 4096 photo; a bigger one is refused before it is decoded.
MAX_IMAGE_PIXELS = 4096 * 4096


class UnsafeConfig(Exception):
    """A configuration the engine refuses to start with (said in plain words)."""


# D-ID: "session_timeout ≤ 300"; the agents guide: a stream ends after 2 minutes without messages.
MAX_SESSION_TIMEOUT = 300.0
AGENT_SESSION_TIMEOUT = 120.0


@dataclass(frozen=True)
class EngineConfig:
    host: str = "127.0.0.1"
    port: int = 8700
    api_key: str = LOCAL_ENGINE_KEY
    # Where `/media/...` source URLs are read from (the Django MEDIA_ROOT); None: always fetch.
    media_root: Path | None = None
    media_url: str = "/media/"
    # Hosts whose `/media/...` URLs are read from media_root instead of being fetched.
    media_hosts: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1"})
    # Hosts a source_url / audio_url may be fetched from over http(s); "*" allows any host.
    # from_env() defaults it to the product's own host (PUBLIC_BASE_URL), nothing else.
    fetch_hosts: frozenset[str] = frozenset({"127.0.0.1", "localhost"})
    # Hosts that may resolve to loopback, private or link-local addresses (refused otherwise,
    # so a source_url cannot reach the machine's or the network's internal services).
    fetch_private_hosts: frozenset[str] = frozenset({"127.0.0.1", "localhost"})
    max_image_pixels: int = MAX_IMAGE_PIXELS
    fetch_timeout: float = 10.0
    max_source_bytes: int = 10 * 1024 * 1024
    max_audio_bytes: int = 20 * 1024 * 1024
    session_timeout: float = MAX_SESSION_TIMEOUT
    agent_session_timeout: float = AGENT_SESSION_TIMEOUT
    max_streams: int = 8
    max_text_chars: int = 2000
    default_resolution: int = 512
    fps: int = 25
    ice_servers: list[dict] = field(default_factory=list)
    # Patch aioice so host candidates are 127.0.0.1 only (see loopback_ice.py).
    loopback_ice: bool = True
    # Where the presenters' idle videos are kept once rendered (catalog.py); "" keeps them in
    # memory only. from_env: VAR_DIR/engine-idle when VAR_DIR is set.
    idle_dir: str = ""
    # The SQLite file of the agents and knowledge the engine serves ("" keeps them in memory,
    # so they are gone when the media process restarts). from_env: ENGINE_KNOWLEDGE_DB, else
    # VAR_DIR/engine-knowledge.sqlite3.
    knowledge_db: str = ""
    # Browser origins answered with CORS (engine/cors.py): exact origins, `scheme://host:*`, or
    # "*". from_env: ENGINE_CORS_ORIGINS, else PUBLIC_BASE_URL's origin and LOOPBACK_ORIGINS.
    cors_origins: frozenset[str] = frozenset({*LOOPBACK_ORIGINS, DEFAULT_PUBLIC_BASE_URL})
    # The other protocol modules to serve next to D-ID streams (they load their models).
    optional_modules: tuple[str, ...] = ("deepgram_listen", "groq_chat")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> EngineConfig:
        """Build the config from ENGINE_* variables (and ICE_SERVERS), then apply overrides."""
        env = os.environ if env is None else env

        def text(name: str, default: str) -> str:
            value = env.get(name)
            return default if value is None or value == "" else value

        def hosts(name: str, default: frozenset[str]) -> frozenset[str]:
            value = env.get(name)
            if not value:
                return default
            return frozenset(h.strip().strip("[]").lower() for h in value.split(",") if h.strip())

        host = text("ENGINE_HOST", cls.host)
        public_base_url = text("PUBLIC_BASE_URL", DEFAULT_PUBLIC_BASE_URL)
        product_host = _host_of(public_base_url)
        own = frozenset({product_host}) if product_host else cls.fetch_hosts
        media_root = env.get("ENGINE_MEDIA_ROOT") or env.get("MEDIA_ROOT")
        ice_servers = json.loads(text("ENGINE_ICE_SERVERS", text("ICE_SERVERS", "[]")))
        values = dict(
            host=host,
            port=int(text("ENGINE_PORT", str(cls.port))),
            api_key=text("ENGINE_API_KEY", LOCAL_ENGINE_KEY),
            media_root=Path(media_root) if media_root else None,
            media_url=text("ENGINE_MEDIA_URL", cls.media_url),
            media_hosts=hosts("ENGINE_MEDIA_HOSTS", cls.media_hosts | own),
            fetch_hosts=hosts("ENGINE_FETCH_HOSTS", own),
            fetch_private_hosts=hosts("ENGINE_FETCH_PRIVATE_HOSTS", own),
            max_image_pixels=int(text("ENGINE_MAX_IMAGE_PIXELS", str(cls.max_image_pixels))),
            fetch_timeout=float(text("ENGINE_FETCH_TIMEOUT", str(cls.fetch_timeout))),
            max_source_bytes=int(text("ENGINE_MAX_SOURCE_BYTES", str(cls.max_source_bytes))),
            session_timeout=min(
                float(text("ENGINE_SESSION_TIMEOUT", str(MAX_SESSION_TIMEOUT))), MAX_SESSION_TIMEOUT
            ),
            max_streams=int(text("ENGINE_MAX_STREAMS", str(cls.max_streams))),
            max_text_chars=int(text("ENGINE_MAX_TEXT_CHARS", str(cls.max_text_chars))),
            # Next to the product's run-time state when there is one (`make run` sets VAR_DIR).
            knowledge_db=text(
                "ENGINE_KNOWLEDGE_DB",
                str(Path(env["VAR_DIR"]) / "engine-knowledge.sqlite3") if env.get("VAR_DIR")
                else cls.knowledge_db,
            ),
            ice_servers=ice_servers if isinstance(ice_servers, list) else [],
            cors_origins=_list(env.get("ENGINE_CORS_ORIGINS"))
            or frozenset({*LOOPBACK_ORIGINS, public_base_url}),
        )
        modules = env.get("ENGINE_MODULES")
        if modules is not None:  # e.g. ENGINE_MODULES="" serves D-ID streams alone
            values["optional_modules"] = tuple(m.strip() for m in modules.split(",") if m.strip())
        if env.get("VAR_DIR"):  # next to the product's run-time state, like knowledge_db
            values["idle_dir"] = str(Path(env["VAR_DIR"]) / "engine-idle")
        values.update(overrides)
        if values.get("media_root") is not None:
            values["media_root"] = Path(values["media_root"])
        values.setdefault(
            "loopback_ice",
            _flag(env.get("ENGINE_LOOPBACK_ICE"), default=_is_loopback(values["host"])),
        )
        return cls(**values)

    def to_json(self) -> dict:
        """A JSON-able form, how the parent hands its config to its children."""
        values = asdict(self)
        for name, value in values.items():
            if isinstance(value, Path):
                values[name] = str(value)
            elif isinstance(value, frozenset | tuple):
                values[name] = sorted(value) if isinstance(value, frozenset) else list(value)
        return values

    @classmethod
    def from_json(cls, values: Mapping) -> EngineConfig:
        kinds = {f.name: f.default for f in fields(cls)}
        typed = {}
        for name, value in values.items():
            if name not in kinds:
                continue
            default = kinds[name]
            if isinstance(default, frozenset):
                value = frozenset(value)
            elif isinstance(default, tuple):
                value = tuple(value)
            elif name == "media_root" and value is not None:
                value = Path(value)
            typed[name] = value
        return cls(**typed)

    def may_fetch(self, host: str) -> bool:
        return "*" in self.fetch_hosts or host.lower() in self.fetch_hosts

    def may_fetch_private(self, host: str) -> bool:
        return "*" in self.fetch_private_hosts or host.lower() in self.fetch_private_hosts

    def check_safe(self) -> None:
        """Refuse to serve beyond this machine with the published default key."""
        if self.api_key == LOCAL_ENGINE_KEY and not _is_loopback(self.host):
            raise UnsafeConfig(
                f"refusing to listen on {self.host} with the default key {LOCAL_ENGINE_KEY!r}: "
                "set ENGINE_API_KEY to a secret of your own (the product uses the same variable), "
                "or listen on 127.0.0.1"
            )


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _list(value: str | None) -> frozenset[str]:
    return frozenset(v.strip() for v in (value or "").split(",") if v.strip())


def _host_of(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.lower() if host else None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def configured_threads() -> int | None:
    """The thread count the supervisor fixed for this child (ENGINE_THREADS), if any."""
    value = os.environ.get("ENGINE_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def config_value(config: object | None, name: str) -> object | None:
    """`name` from an EngineConfig, a plain mapping, or nothing (protocol modules accept all)."""
    if config is None:
        return None
    if isinstance(config, Mapping):
        return config.get(name)
    return getattr(config, name, None)


def engine_key(config: object | None, api_key: str | None = None) -> str:
    """The shared key: explicit, else the config's, else $ENGINE_API_KEY, else the local default."""
    key = api_key or config_value(config, "api_key") or os.environ.get("ENGINE_API_KEY")
    return str(key or LOCAL_ENGINE_KEY)
