"""The whole product (or some of its processes) started from the Procfile, waited for until
healthy, and stopped with nothing left behind: `make run`, the browser tests and the benchmarks.

    from launcher import Stack

    with Stack() as stack:                 # isolated: throwaway database, Redis db, VAR_DIR
        stack.url                          # "http://127.0.0.1:<port>" (daphne: pages + WebSocket)
        stack.engine_url                   # the local engine
        stack.credentials["demo"]          # the password `manage.py bootstrap` wrote for demo
        stack.pid("worker"), stack.log("engine"), stack.log_path("web")
        stack.shell("print(1)")            # `manage.py shell` against the stack's database
        stack.kill("worker"); stack.restart("worker")   # fault injection: same ports, healthy again
        stack.use_django()                 # this process's ORM on the stack's database

    Stack(processes=("web", "replies"), env={"GROQ_BASE_URL": stub},
          args={"replies": ["--without-gossip"]}, bootstrap=False)  # some, with overrides
    Stack(processes=("engine",), migrate=False, bootstrap=False)     # the engine alone

An isolated stack gets a new PostgreSQL database when DATABASE_URL is PostgreSQL (else SQLite
in a temporary folder), a Redis db number of its own on the configured Redis (an embedded
redis-server when none answers, or always with `private_redis=True`), free loopback ports and temporary VAR_DIR and MEDIA_ROOT; logs
stay in `log_dir` (one `<process>.log` each). `isolated=False` is `make run`: the configured
database, Redis (or an embedded one on :6390 when it does not answer), VAR_DIR and ports.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from celery import Celery
from django.conf import settings as configured  # lazy: read, never set up, in this process

from config import secret_key

from . import procfile
from .backing import (
    RedisClaim,
    ThrowawayDatabase,
    free_port,
    redis_answers,
    start_embedded_redis,
)
from .processes import Child, signal_group, spawn, stop

BASE_DIR = procfile.BASE_DIR
ARTIFACTS = BASE_DIR / "test-artifacts" / "stacks"
PROCESSES = ("web", "worker", "replies", "beat", "engine")
NEEDS_BACKING = {"web", "worker", "replies", "beat"}  # the engine needs neither Redis nor the database
EMBEDDED_REDIS_PORT = 6390  # `make run` when the configured Redis does not answer
LOCAL_ENGINE_KEY = "local-engine-key"  # the engine's offline default, not a secret
# Derived by settings from REDIS_URL, ENGINE_PORT and MEDIA_ROOT: an isolated stack must not
# inherit the caller's values (they would point at someone else's Redis or engine).
DERIVED = ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DID_API_URL", "DEEPGRAM_URL",
           "GROQ_BASE_URL", "ENGINE_MEDIA_ROOT")


class StackError(RuntimeError):
    """The product did not come up: the message names the process and its log file."""


def answers(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status `url` answers with (redirects followed), or None if nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def read_credentials(path: Path) -> dict[str, str]:
    """`username password` lines, as `manage.py bootstrap` writes them."""
    if not path.exists():
        return {}
    credentials = {}
    for line in path.read_text().splitlines():
        user, _, password = line.strip().partition(" ")
        if user and password:
            credentials[user] = password
    return credentials


class Stack:
    """The product's processes; a context manager (see the module doc)."""

    def __init__(
        self,
        *,
        name: str = "stack",
        processes: Iterable[str] = PROCESSES,
        isolated: bool = True,
        port: int | None = None,
        engine_port: int | None = None,
        env: dict[str, str] | None = None,
        args: dict[str, list[str]] | None = None,
        log_dir: Path | str | None = None,
        migrate: bool = True,
        bootstrap: bool = True,
        private_redis: bool = False,
        start_timeout: float = 180.0,
    ) -> None:
        self.name = name
        self.processes = tuple(processes)
        unknown = set(self.processes) - set(procfile.read())
        if unknown:
            raise StackError(f"not in the Procfile: {', '.join(sorted(unknown))}")
        self.isolated = isolated
        self.overrides = dict(env or {})
        self.args = dict(args or {})
        self.migrate, self.bootstrap = migrate, bootstrap
        self.private_redis = private_redis
        self.start_timeout = start_timeout
        self.port = port or (free_port() if isolated else 8000)
        self.engine_port = engine_port or (free_port() if isolated else _settings().ENGINE_PORT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.engine_url = f"http://127.0.0.1:{self.engine_port}"
        self.log_dir = Path(log_dir) if log_dir else (ARTIFACTS / name if isolated else None)
        self.env: dict[str, str] = {}
        self.credentials: dict[str, str] = {}
        self.children: dict[str, Child] = {}
        self.database_kind = "sqlite"
        self._tmp: Path | None = None
        self._database: ThrowawayDatabase | None = None
        self._redis_claim: RedisClaim | None = None

    # Life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def start(self) -> None:
        """Backing services, migrate + bootstrap, then every process; returns once all are
        healthy. On failure everything started so far is stopped before StackError is raised."""
        try:
            self.env = self._environment()
            # As production requires one: a key of its own under VAR_DIR (config/secret_key.py).
            if not self.env.get("SECRET_KEY"):
                secret_key.ensure(self.env["VAR_DIR"])
            if self.migrate:
                self.manage("migrate", "--noinput", timeout=300)
            if self.bootstrap:
                self.manage("bootstrap")
            self.credentials = read_credentials(Path(self.env["VAR_DIR"]) / "credentials.txt")
            for name in self.processes:
                self._start_process(name)
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every process group (TERM, then KILL after 10 s), then the backing services."""
        started = list(self.children.values())
        stop([c for c in started if c.name != "redis"])
        stop([c for c in started if c.name == "redis"])  # last: the others flush to it
        if self._redis_claim is not None:
            self._redis_claim.release()
            self._redis_claim = None
        if self._database is not None:
            self._database.drop()
            self._database = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def wait_healthy(self, timeout: float | None = None) -> None:
        """Until the web answers, the engine's /health says 200 and the worker answers a Celery
        ping (beat: still running). StackError names what is not up, and its log."""
        deadline = time.monotonic() + (timeout or self.start_timeout)
        waiting = {name: check for name, check in self._health_checks().items()
                   if name in self.processes}
        while waiting:
            for child in self.children.values():
                if not child.alive():
                    raise StackError(f"{child.name} exited (code {child.popen.returncode}); "
                                     f"see {child.log}:\n{child.log_text()[-2000:]}")
            for name, check in list(waiting.items()):
                if check():
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                raise StackError(f"not up after {timeout or self.start_timeout:.0f} s: "
                                 + ", ".join(f"{n} (see {self.log_path(n)})" for n in waiting))
            time.sleep(0.3)

    def kill(self, name: str, sig: signal.Signals = signal.SIGKILL, *, group: bool = True) -> None:
        """Send `sig` to a process (its whole group: the worker's pool, the engine's children;
        `group=False`: the process alone) and wait for it to exit. Fault injection."""
        child = self.children[name]
        if group:
            signal_group(child.pid, sig)
        else:
            os.kill(child.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.popen.wait(30)

    def restart(self, name: str, *, wait: bool = True) -> None:
        """Start a process again (stopped first if it still runs) on the same ports, and wait
        until the stack is healthy. Redis comes back empty, as a non-persistent Redis does. Call
        it from the thread that started the stack: the process dies with its spawning thread."""
        child = self.children.get(name)
        if child is not None and child.alive():
            stop([child])
        log = self.log_path(name)
        if log.exists():  # the life before the restart stays readable: <name>.log.1, .2, ...
            log.rename(log.with_name(f"{log.name}.{len(list(log.parent.glob(log.name + '.*'))) + 1}"))
        if name == "redis":
            port = int(self.env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
            self.children["redis"], _ = start_embedded_redis(
                port, data_dir=Path(self.env["VAR_DIR"]) / "redis", log=log, env=self.env)
        else:
            self._start_process(name)
        if wait:
            self.wait_healthy()

    def first_exited(self) -> Child | None:
        """A process that is no longer running, if any (`make run` stops on the first)."""
        return next((c for c in self.children.values() if not c.alive()), None)

    # What a caller needs -----------------------------------------------------------------------

    @property
    def tmp(self) -> Path:
        """An isolated stack's own temporary folder (removed by stop()): scratch space."""
        if self._tmp is None:
            raise StackError("only a started isolated stack has a temporary folder")
        return self._tmp

    @property
    def media_root(self) -> Path:
        return Path(self.env.get("MEDIA_ROOT") or _settings().MEDIA_ROOT)

    def pid(self, name: str) -> int:
        return self.children[name].pid

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log(self, name: str) -> str:
        path = self.log_path(name)
        return path.read_text(errors="replace") if path.exists() else ""

    def manage(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        """`manage.py <args>` against this stack's database and settings; its stdout."""
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=BASE_DIR, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def shell(self, code: str) -> str:
        """Python run by `manage.py shell` against this stack; what it printed, stripped."""
        return self.manage("shell", "--verbosity", "0", "--command", code).strip()

    def use_django(self) -> None:
        """Set Django up in this process with the stack's settings (its ORM, its Redis)."""
        import django  # only callers that want the ORM in-process pay for it
        from django.utils.functional import empty

        os.environ.update(self.env)
        # The launcher may have read the settings already (_settings(), from this process's
        # environment): read them again from the stack's, or the ORM opens the wrong database.
        sys.modules.pop("config.settings", None)  # the module _environment() names
        configured._wrapped = empty
        django.setup()

    def engine_streams(self, kind: str | None = "talks") -> list[dict]:
        """The engine's live streams of this kind (engine-only `GET /{kind}/streams`), or of
        every kind (`kind=None`: `GET /streams`)."""
        key = self.env.get("ENGINE_API_KEY", LOCAL_ENGINE_KEY)
        path = f"/{kind}/streams" if kind else "/streams"
        request = urllib.request.Request(f"{self.engine_url}{path}",
                                         headers={"Authorization": f"Basic {key}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["streams"]

    # Inside ----------------------------------------------------------------------------------

    def _environment(self) -> dict[str, str]:
        base = {**os.environ, **self.overrides}
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # The Procfile's `daphne`, `celery` and `python` must be this interpreter's.
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
            "PYTHONUNBUFFERED": "1",
            "PORT": str(self.port),
            "ENGINE_PORT": str(self.engine_port),
        }
        if self.isolated:
            self._tmp = Path(tempfile.mkdtemp(prefix=f"livepersona-{self.name}-"))
            for folder in ("var", "media"):
                (self._tmp / folder).mkdir()
            for name in DERIVED:
                env.pop(name, None)
            self._database = ThrowawayDatabase(base.get("DATABASE_URL", ""), self._tmp)
            self.database_kind = self._database.kind
            env.update({
                "DATABASE_URL": self._database.create(),
                "VAR_DIR": str(self._tmp / "var"),
                "MEDIA_ROOT": str(self._tmp / "media"),
                "PUBLIC_BASE_URL": self.url,
                "ENGINE_HOST": "127.0.0.1",
            })
        else:
            settings = _settings()
            env.setdefault("VAR_DIR", str(settings.VAR_DIR))
            env.setdefault("PUBLIC_BASE_URL", self.url)
            self.log_dir = self.log_dir or Path(env["VAR_DIR"]) / "log"
            self.database_kind = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        env.update(self.overrides)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        Path(env["VAR_DIR"]).mkdir(parents=True, exist_ok=True)
        if NEEDS_BACKING & set(self.processes) or self.migrate:
            env["REDIS_URL"] = self._redis(env)
        return env

    def _redis(self, env: dict[str, str]) -> str:
        configured = env.get("REDIS_URL") or _settings().REDIS_URL
        if "REDIS_URL" in self.overrides:
            return configured
        if not self.private_redis and redis_answers(configured):
            if not self.isolated:
                return configured
            self._redis_claim = RedisClaim(configured)
            return self._redis_claim.claim()
        port = EMBEDDED_REDIS_PORT if not self.isolated else free_port()
        child, url = start_embedded_redis(port, data_dir=Path(env["VAR_DIR"]) / "redis",
                                          log=self.log_path("redis"), env=env)
        self.children["redis"] = child
        if not self.isolated:
            print(f"Redis at {configured} did not answer; started an embedded one on :{port}.")
        return url

    def _start_process(self, name: str) -> None:
        command = procfile.read()[name]
        self.children[name] = spawn(name, procfile.argv(command, self.args.get(name, ())),
                                    log=self.log_path(name), env=self.env, cwd=BASE_DIR)

    def _health_checks(self) -> dict:
        return {
            "web": lambda: (answers(f"{self.url}/") or 500) < 500,
            "engine": lambda: answers(f"{self.engine_url}/health") == 200,
            "worker": lambda: self._worker_answers("worker"),
            "replies": lambda: self._worker_answers("replies"),
            "beat": lambda: time.time() - self.children["beat"].started_at > 1.0,
        }

    def _worker_answers(self, node: str) -> bool:
        """A Celery worker named `node@...` (the Procfile's --hostname) answers a ping."""
        broker = self.env.get("CELERY_BROKER_URL") or self.env["REDIS_URL"]
        app = Celery(broker=broker)
        try:
            replies = app.control.ping(timeout=0.5)
        except Exception:  # the broker not there yet, or not answering: not up, ask again
            return False
        finally:
            app.close()
        return any(name.startswith(f"{node}@") for reply in replies for name in reply)


def _settings():
    """The configured settings (environment and .env), read without setting Django up. The
    settings refuse to load without a SECRET_KEY: on a fresh machine, `make run` makes the one
    it keeps under VAR_DIR first (config/secret_key.py imports no Django)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if not configured.configured and not os.environ.get("SECRET_KEY"):
        secret_key.main()
    return configured
