"""`manage.py run_engine`: serve the local engine (D-ID streams, Deepgram live, Groq chat).

The engine (the top-level `engine` package) imports nothing from Django; this command only
fills its configuration from the Django settings and starts it: a parent process on the
engine's port and one child each for speech recognition, the LLM and the media.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the local engine on ENGINE_HOST:ENGINE_PORT (D-ID, Deepgram and Groq look-alikes)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", help="address to listen on (default: ENGINE_HOST)")
        parser.add_argument("--port", type=int, help="port to listen on (default: ENGINE_PORT)")

    def handle(self, *args, host: str | None = None, port: int | None = None, **options) -> None:
        # Imported here so that other management commands never load the engine.
        from engine.config import EngineConfig, UnsafeConfig
        from engine.main import configure_logging, run

        configure_logging()
        overrides = {
            "host": host or getattr(settings, "ENGINE_HOST", None),
            "port": port or getattr(settings, "ENGINE_PORT", None),
            "api_key": getattr(settings, "ENGINE_API_KEY", None),
            "ice_servers": getattr(settings, "ICE_SERVERS", None),
            "media_url": getattr(settings, "MEDIA_URL", None),
        }
        if not os.environ.get("ENGINE_MEDIA_ROOT"):
            overrides["media_root"] = getattr(settings, "MEDIA_ROOT", None)
        # The source_url allow-list defaults to the product's own host.
        env = {**os.environ, "PUBLIC_BASE_URL": getattr(settings, "PUBLIC_BASE_URL", "")}
        config = EngineConfig.from_env(
            env, **{k: v for k, v in overrides.items() if v is not None}
        )
        try:
            config.check_safe()
        except UnsafeConfig as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Local engine on http://{config.host}:{config.port} (Ctrl-C to stop)")
        run(config)
