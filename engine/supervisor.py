"""The engine's parent: starts one child per role, restarts the ones that die, stops them all.

Each child is `python -m engine.child`, given its orders on stdin and serving on a unix socket
in a private (0700) directory. The parent keeps the stdin pipe open for the child's life: its
closing (parent gone, or stopping) is one of the two ways a child knows to exit; the other is
Linux's PR_SET_PDEATHSIG (see child.py). So no child outlives the parent, whether it stops on
Ctrl-C, SIGTERM or is killed.

A child that exits is logged with its exit code or signal and started again after a backoff
that doubles on each quick death (0.5 s up to 10 s) and resets once a child has served for
a while. Requests that arrive in between get the vendor's 503 (proxy.py), not a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from . import media_claim, roles
from .config import EngineConfig, UnsafeConfig

log = logging.getLogger("engine.supervisor")

BACKOFF_FIRST_S = 0.5
BACKOFF_MAX_S = 10.0
STABLE_AFTER_S = 30.0  # a child that served this long starts its next life with no backoff
READY_POLL_S = 0.05
STOP_GRACE_S = 5.0


def describe_exit(returncode: int | None) -> str:
    """`exit code 3` or `killed by SIGKILL`: what the log says about a child that ended."""
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


def next_backoff(previous: float, lived_s: float) -> float:
    if lived_s >= STABLE_AFTER_S or previous <= 0:
        return BACKOFF_FIRST_S
    return min(previous * 2, BACKOFF_MAX_S)


@dataclass
class Child:
    """One role's process across its restarts."""

    role: str
    socket: str
    threads: int
    nice: int = 0  # added to the process's niceness (and its autogroup's, engine/child.py)
    process: asyncio.subprocess.Process | None = None
    instance: str | None = None
    ready: bool = False
    restarts: int = 0
    started_at: float = 0.0
    last_exit: str | None = None
    backoff: float = 0.0
    # Media instances that served streams and then died (their streams are gone).
    dead_instances: set[str] = field(default_factory=set)
    session: aiohttp.ClientSession | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def describe(self) -> dict:
        return {
            "pid": self.pid,
            "ready": self.ready,
            "restarts": self.restarts,
            "threads": self.threads,
            "nice": self.nice,
            "last_exit": self.last_exit,
        }


class Supervisor:
    def __init__(self, config: EngineConfig, run_dir: Path, *, threads: dict | None = None):
        self.config = config
        self.run_dir = run_dir
        self.children: dict[str, Child] = {}
        self._stopping = False
        self._watchers: list[asyncio.Task] = []
        self._pollers: set[asyncio.Task] = set()
        # Shared by the children: the media process claims the CPU, the LLM's pauses for it.
        self.claim_fd = media_claim.create()
        for role in self.enabled_roles(config):
            count = (threads or {}).get(role) or _threads_from_env(role)
            self.children[role] = Child(role, str(run_dir / f"{role}.sock"), count,
                                        nice=_nice_from_env(role))

    @staticmethod
    def enabled_roles(config: EngineConfig) -> list[str]:
        modules = set(config.optional_modules)
        return [roles.MEDIA] + [
            role for role in (roles.STT, roles.LLM) if roles.MODULE_OF_ROLE[role] in modules
        ]

    def _child_env(self, child: Child) -> dict[str, str]:
        env = roles.child_env(child.threads, os.environ)
        if self.claim_fd is not None:
            env[media_claim.ENV] = str(self.claim_fd)
        return env

    def peers(self) -> dict[str, str]:
        return {role: child.socket for role, child in self.children.items()}

    async def start(self) -> None:
        for child in self.children.values():
            child.session = aiohttp.ClientSession(
                connector=aiohttp.UnixConnector(path=child.socket, limit=0),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=5),
                auto_decompress=False,
            )
            await self._spawn(child)
            self._watchers.append(asyncio.create_task(self._watch(child), name=child.role))

    async def _spawn(self, child: Child) -> None:
        child.ready = False
        child.instance = roles.new_instance() if child.role == roles.MEDIA else None
        orders = {
            "role": child.role,
            "socket": child.socket,
            "parent_pid": os.getpid(),
            "threads": child.threads,
            "nice": child.nice,
            "instance": child.instance,
            "peers": self.peers(),
            "config": self.config.to_json(),
            "log_level": logging.getLevelName(logging.getLogger("engine").getEffectiveLevel()),
        }
        with contextlib.suppress(FileNotFoundError):
            os.unlink(child.socket)
        child.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "engine.child",
            stdin=asyncio.subprocess.PIPE,
            env=self._child_env(child),
            pass_fds=() if self.claim_fd is None else (self.claim_fd,),
            # Its own session: a Ctrl-C at the terminal reaches the parent only, which then
            # stops the children in order (rather than seeing them die and restarting them).
            start_new_session=True,
        )
        child.process.stdin.write(json.dumps(orders).encode() + b"\n")
        await child.process.stdin.drain()  # the pipe stays open: its closing stops the child
        child.started_at = time.monotonic()
        log.info(
            "started the %s process (pid %d, %d threads)", child.role, child.pid, child.threads
        )
        task = asyncio.create_task(
            self._await_ready(child, child.process), name=f"{child.role}-ready"
        )
        self._pollers.add(task)
        task.add_done_callback(self._pollers.discard)

    async def _await_ready(self, child: Child, process) -> None:
        """Poll the child's /health on its socket until it answers (its models are loaded)."""
        while child.process is process and process.returncode is None and not self._stopping:
            try:
                async with child.session.get(
                    "http://child/health", timeout=aiohttp.ClientTimeout(total=2)
                ) as response:
                    if response.status == 200:
                        child.ready = True
                        log.info("the %s process (pid %d) is ready", child.role, process.pid)
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(READY_POLL_S)

    async def _watch(self, child: Child) -> None:
        while not self._stopping:
            process = child.process
            returncode = await process.wait()
            child.ready = False
            if self._stopping:
                return
            lived = time.monotonic() - child.started_at
            child.last_exit = describe_exit(returncode)
            if child.instance:
                child.dead_instances.add(child.instance)
            child.backoff = next_backoff(child.backoff, lived)
            log.error(
                "the %s process (pid %d) died after %.1f s: %s; restarting it in %.1f s",
                child.role,
                process.pid,
                lived,
                child.last_exit,
                child.backoff,
            )
            with contextlib.suppress(Exception):
                process.stdin.close()
            await asyncio.sleep(child.backoff)
            if self._stopping:
                return
            child.restarts += 1
            try:
                await self._spawn(child)
            except OSError:
                log.exception("could not start the %s process", child.role)
                child.started_at = time.monotonic()

    async def stop(self) -> None:
        """SIGTERM every child, wait a little, SIGKILL what is left."""
        self._stopping = True
        for task in [*self._watchers, *self._pollers]:
            task.cancel()
        for child in self.children.values():  # kept-alive connections would hold them up
            if child.session is not None:
                await child.session.close()
        live = [c.process for c in self.children.values() if c.process is not None]
        for process in live:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGTERM)
            with contextlib.suppress(Exception):
                process.stdin.close()
        waits = [asyncio.wait_for(p.wait(), STOP_GRACE_S) for p in live]
        for process, result in zip(
            live, await asyncio.gather(*waits, return_exceptions=True), strict=True
        ):
            if isinstance(result, TimeoutError):
                log.warning("the engine child %d did not stop; killing it", process.pid)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        log.info("engine children stopped")


def _nice_from_env(role: str) -> int:
    """`ENGINE_{ROLE}_NICE`, 0 to 19 (a process may lower its own priority, never raise it)."""
    value = os.environ.get(f"ENGINE_{role.upper()}_NICE", "").strip()
    if not value:
        return roles.DEFAULT_NICE.get(role, 0)
    if not value.isdigit() or int(value) > 19:
        raise UnsafeConfig(
            f"ENGINE_{role.upper()}_NICE={value[:20]!r} is not a number from 0 to 19"
        )
    return int(value)


def _threads_from_env(role: str) -> int:
    value = os.environ.get(f"ENGINE_{role.upper()}_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else roles.default_threads()
