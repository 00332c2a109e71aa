"""Run the engine: the parent (supervisor + public port) and its children until a signal.

`run(config)` is what `manage.py run_engine` and `python -m engine` call. SIGINT (Ctrl-C) and
SIGTERM stop the children before the parent exits; if the parent is killed outright, the
children see it and exit on their own (child.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import tempfile
from pathlib import Path

from aiohttp import web

from .config import EngineConfig, UnsafeConfig
from .proxy import build_proxy
from .supervisor import Supervisor

log = logging.getLogger("engine")


async def serve(config: EngineConfig) -> None:
    config.check_safe()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    # The children's sockets live in a directory only this user can enter.
    with tempfile.TemporaryDirectory(prefix="lp-engine-") as run_dir:
        supervisor = Supervisor(config, Path(run_dir))
        runner = web.AppRunner(build_proxy(supervisor), handle_signals=False)
        try:
            await supervisor.start()
            await runner.setup()
            await web.TCPSite(runner, config.host, config.port).start()
            log.info(
                "engine on http://%s:%d: %s",
                config.host,
                config.port,
                ", ".join(f"{r} pid {c.pid}" for r, c in supervisor.children.items()),
            )
            await stop.wait()
            log.info("engine stopping")
        finally:
            with contextlib.suppress(Exception):
                await runner.cleanup()
            await supervisor.stop()


def configure_logging() -> None:
    """INFO, or ENGINE_LOG_LEVEL (DEBUG shows each talk's trace); the children inherit it."""
    level = os.environ.get("ENGINE_LOG_LEVEL", "INFO").upper()
    level = level if level in logging.getLevelNamesMapping() else "INFO"
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s [parent] %(name)s: %(message)s")
    # Under `manage.py run_engine` Django has configured logging already, and basicConfig does
    # nothing: the engine's own level must still follow ENGINE_LOG_LEVEL (the children inherit
    # it from this logger).
    logging.getLogger("engine").setLevel(level)


def run(config: EngineConfig) -> None:
    asyncio.run(serve(config))


def main() -> None:
    """`python -m engine`: the engine without Django (reads ENGINE_* and PUBLIC_BASE_URL)."""
    configure_logging()
    try:
        run(EngineConfig.from_env())
    except UnsafeConfig as exc:
        raise SystemExit(f"engine: {exc}") from None
