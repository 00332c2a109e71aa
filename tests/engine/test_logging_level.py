"""ENGINE_LOG_LEVEL reaches the engine's loggers however the process was started."""

from __future__ import annotations

import logging

from engine.main import configure_logging


def test_engine_log_level_applies_even_when_logging_was_configured_before(monkeypatch):
    # As under `manage.py run_engine`: Django's LOGGING gave the root logger a handler first.
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    engine_logger = logging.getLogger("engine")
    before = engine_logger.level
    try:
        monkeypatch.setenv("ENGINE_LOG_LEVEL", "debug")
        configure_logging()
        assert logging.getLogger("engine.timeline").isEnabledFor(logging.DEBUG)
        monkeypatch.setenv("ENGINE_LOG_LEVEL", "nonsense")
        configure_logging()
        assert engine_logger.level == logging.INFO
    finally:
        root.removeHandler(handler)
        engine_logger.setLevel(before)
