"""`manage.py run_engine`: serve the local engine (D-ID streams, Deepgram live, Groq chat)."""

from __future__ import annotations

import logging
import os

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the local engine on ENGINE_HOST:ENGINE_PORT (D-ID, Deepgram and Groq look-alikes)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", help="address to listen on (default: ENGINE_HOST)")
        parser.add_argument("--port", type=int, help="port to listen on (default: ENGINE_PORT)")

    def handle(self, *args, host: str | None = None, port: int | None = None, **options) -> None:
        # Imported here so that other management commands never load aiortc and the models.
        from aiohttp import web

        from streaming.engine.config import EngineConfig
        from streaming.engine.server import build_app

        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        overrides = {
            "host": host or getattr(settings, "ENGINE_HOST", None),
            "port": port or getattr(settings, "ENGINE_PORT", None),
            "api_key": getattr(settings, "ENGINE_API_KEY", None),
            "ice_servers": getattr(settings, "ICE_SERVERS", None),
            "media_url": getattr(settings, "MEDIA_URL", None),
        }
        if not os.environ.get("ENGINE_MEDIA_ROOT"):
            overrides["media_root"] = getattr(settings, "MEDIA_ROOT", None)
        config = EngineConfig.from_env(**{k: v for k, v in overrides.items() if v is not None})
        self.stdout.write(f"Local engine on http://{config.host}:{config.port} (Ctrl-C to stop)")
        web.run_app(build_app(config), host=config.host, port=config.port, print=None)
