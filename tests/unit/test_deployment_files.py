"""docker-compose cannot run on our machines; at least keep it and the Procfile coherent."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_compose_defines_every_process_and_backing_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"web", "worker", "beat", "engine", "redis", "postgres", "coturn"}
    for name in ("web", "worker", "beat", "engine"):
        assert services[name]["env_file"] == ".env"
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "run_engine" in services["engine"]["command"]
    assert "celery -A config worker" in services["worker"]["command"]
    assert "celery -A config beat" in services["beat"]["command"]
    assert "3478:3478/udp" in services["coturn"]["ports"]


def test_procfile_runs_web_worker_beat_and_engine():
    lines = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )
    assert set(lines) == {"web", "worker", "beat", "engine"}
    assert "daphne" in lines["web"] and "config.asgi:application" in lines["web"]
    assert "run_engine" in lines["engine"]


def test_env_example_names_every_provider_setting_without_values():
    text = (ROOT / ".env.example").read_text()
    for name in ("DID_API_KEY", "HEYGEN_API_KEY", "DEEPGRAM_API_KEY", "GROQ_API_KEY",
                 "DATABASE_URL", "REDIS_URL", "ICE_SERVERS"):
        assert f"# {name}=" in text
    for line in text.splitlines():
        if line.startswith("# ") and line.endswith("_API_KEY="):
            continue
        assert not line.startswith(("DID_API_KEY=", "GROQ_API_KEY="))
