"""docker-compose cannot run on our machines; at least keep it and the Procfile coherent."""

import shlex
from pathlib import Path

import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
APP_PROCESSES = ("web", "worker", "replies", "beat", "engine")


def procfile() -> dict[str, str]:
    return dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line.strip()
    )


def option(command: str, name: str) -> str | None:
    words = shlex.split(command)
    return words[words.index(name) + 1] if name in words else None


def test_compose_defines_every_process_and_backing_service():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {*APP_PROCESSES, "redis", "postgres", "coturn"}
    for name in APP_PROCESSES:
        assert services[name]["env_file"] == ".env"
        assert services[name]["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "run_engine" in services["engine"]["command"]
    assert "celery -A config worker" in services["worker"]["command"]
    assert "celery -A config beat" in services["beat"]["command"]
    assert "3478:3478/udp" in services["coturn"]["ports"]
    for name in ("worker", "replies"):  # the same queues and pool as the Procfile's line
        for name_of_option in ("--queues", "--pool", "--concurrency"):
            assert (option(services[name]["command"], name_of_option)
                    == option(procfile()[name], name_of_option)), (name, name_of_option)


def test_procfile_runs_web_worker_replies_beat_and_engine():
    lines = procfile()
    assert set(lines) == set(APP_PROCESSES)
    assert "daphne" in lines["web"] and "config.asgi:application" in lines["web"]
    assert "run_engine" in lines["engine"]


def test_replies_are_routed_to_a_worker_of_their_own_that_starts_them_at_once():
    lines = procfile()
    queue = settings.CELERY_TASK_ROUTES["streaming.tasks.generate_reply"]["queue"]
    assert settings.CELERY_TASK_ROUTES["streaming.tasks.preempt_reply"]["queue"] == queue
    assert option(lines["replies"], "--queues") == queue
    assert queue not in option(lines["worker"], "--queues").split(",")
    # Threads share the process's event loop; a prefork child would be a pipe hop away.
    assert option(lines["replies"], "--pool") == "threads"
    assert option(lines["replies"], "--prefetch-multiplier") == "1"
    assert settings.CELERY_TASK_ACKS_LATE


def test_env_example_names_every_provider_setting_without_values():
    text = (ROOT / ".env.example").read_text()
    for name in ("DID_API_KEY", "HEYGEN_API_KEY", "DEEPGRAM_API_KEY", "GROQ_API_KEY",
                 "DATABASE_URL", "REDIS_URL", "ICE_SERVERS"):
        assert f"# {name}=" in text
    for line in text.splitlines():
        if line.startswith("# ") and line.endswith("_API_KEY="):
            continue
        assert not line.startswith(("DID_API_KEY=", "GROQ_API_KEY="))
