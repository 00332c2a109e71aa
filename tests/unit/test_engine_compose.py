"""The engine stays private: compose does not publish it, and the default key stays on loopback."""

from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

ROOT = Path(__file__).resolve().parents[2]


def test_the_engine_port_is_not_published_and_the_key_is_required():
    text = (ROOT / "docker-compose.yml").read_text()
    engine = yaml.safe_load(text)["services"]["engine"]
    published = [str(p) for p in engine.get("ports", [])]
    assert not any(p.split(":")[-1].split("/")[0] == "8700" for p in published), published
    assert all(p.endswith("/udp") for p in published)  # WebRTC media only
    assert "local-engine-key" not in text
    assert "${ENGINE_API_KEY:?" in text


def test_run_engine_refuses_the_default_key_off_loopback(settings):
    settings.ENGINE_API_KEY = "local-engine-key"
    with pytest.raises(CommandError, match="default key"):
        call_command("run_engine", host="0.0.0.0", port=18798)
