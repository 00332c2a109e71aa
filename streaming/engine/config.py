"""The local engine's settings, read from the environment.

The engine is its own process and must not import Django settings at import time, so it reads
the same variable names the Django settings use (see docs/TEAM_BRIEF.md) straight from the
environment; `manage.py run_engine` may fill the gaps (the media root) from Django settings.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

LOCAL_ENGINE_KEY = "local-engine-key"  # not a secret: the offline engine's default shared key

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
    fetch_hosts: frozenset[str] = frozenset({"*"})
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
        media_root = env.get("ENGINE_MEDIA_ROOT") or env.get("MEDIA_ROOT")
        ice_servers = json.loads(text("ENGINE_ICE_SERVERS", text("ICE_SERVERS", "[]")))
        values = dict(
            host=host,
            port=int(text("ENGINE_PORT", str(cls.port))),
            api_key=text("ENGINE_API_KEY", LOCAL_ENGINE_KEY),
            media_root=Path(media_root) if media_root else None,
            media_url=text("ENGINE_MEDIA_URL", cls.media_url),
            media_hosts=hosts("ENGINE_MEDIA_HOSTS", cls.media_hosts),
            fetch_hosts=hosts("ENGINE_FETCH_HOSTS", cls.fetch_hosts),
            fetch_timeout=float(text("ENGINE_FETCH_TIMEOUT", str(cls.fetch_timeout))),
            max_source_bytes=int(text("ENGINE_MAX_SOURCE_BYTES", str(cls.max_source_bytes))),
            session_timeout=min(
                float(text("ENGINE_SESSION_TIMEOUT", str(MAX_SESSION_TIMEOUT))), MAX_SESSION_TIMEOUT
            ),
            max_streams=int(text("ENGINE_MAX_STREAMS", str(cls.max_streams))),
            max_text_chars=int(text("ENGINE_MAX_TEXT_CHARS", str(cls.max_text_chars))),
            ice_servers=ice_servers if isinstance(ice_servers, list) else [],
        )
        modules = env.get("ENGINE_MODULES")
        if modules is not None:  # e.g. ENGINE_MODULES="" serves D-ID streams alone
            values["optional_modules"] = tuple(m.strip() for m in modules.split(",") if m.strip())
        values.update(overrides)
        if values.get("media_root") is not None:
            values["media_root"] = Path(values["media_root"])
        values.setdefault(
            "loopback_ice",
            _flag(env.get("ENGINE_LOOPBACK_ICE"), default=_is_loopback(values["host"])),
        )
        return cls(**values)

    def may_fetch(self, host: str) -> bool:
        return "*" in self.fetch_hosts or host.lower() in self.fetch_hosts


def _flag(value: str | None, *, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
