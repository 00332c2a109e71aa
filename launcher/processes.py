"""Child processes of the launcher: each in a process group of its own, logging to a file,
stopped group and all, and killed by the kernel if the launcher itself dies.

Why not honcho: the launcher needs each process's pid, log file and health to hand (tests and
benchmarks wait on them, sample their CPU and start only some of them), and honcho only offers
a blocking foreground loop. What honcho gave us besides, prefixed console output, is `Echo`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: the launcher still stops children on signals
    _prctl = None


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the launcher dies, even by SIGKILL.
    (The signal fires when the launcher's *thread* that spawned the child ends, so spawn
    from a thread that lives as long as the stack: the main thread.)"""
    if _prctl is not None:
        _prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


@dataclass
class Child:
    """One running process: `popen.pid` is also its process group id."""

    name: str
    argv: list[str]
    log: Path
    popen: subprocess.Popen
    started_at: float = field(default_factory=time.time)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def spawn(name: str, argv: list[str], *, log: Path, env: dict[str, str], cwd: Path) -> Child:
    """Start `argv` in a new session (so a terminal's Ctrl-C reaches only the launcher, which
    then stops every group in order), stdout and stderr written to `log` (a fresh file)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )
    return Child(name, argv, log, popen)


def stop(children: list[Child], *, grace: float = 10.0) -> None:
    """SIGTERM every child's group at once, wait up to `grace` seconds for all of them, then
    SIGKILL the groups still there (Celery's pool, the engine's helpers: the whole group)."""
    for child in children:
        signal_group(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.popen.wait(max(0.0, deadline - time.monotonic()))
    while time.monotonic() < deadline and any(group_alive(c.pid) for c in children):
        time.sleep(0.1)
    for child in children:
        signal_group(child.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.popen.wait(5)


def signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs (zombies waiting to be reaped do not count:
    a container's init may take its time)."""
    return bool(group_members(pgid))


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group (Linux /proc)."""
    members = []
    for pid, fields in _proc_stats():
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(pid)
    return members


def _proc_stats():
    """(pid, fields after the command name) of every process in /proc/<pid>/stat."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        yield int(entry.name), stat.rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Whether `pid` still runs (a zombie has exited already; Linux /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _live_children() -> dict[int, list[int]]:
    """Parent pid -> its live (not zombie) children, from one pass over /proc."""
    children: dict[int, list[int]] = {}
    for child, fields in _proc_stats():
        if fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(child)
    return children


def children(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (Linux /proc)."""
    return _live_children().get(pid, [])


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (Linux /proc)."""
    tree = _live_children()
    found, todo = [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class Echo:
    """Copies what the children write to their log files onto the console, each line prefixed
    with the process name (`web    | ...`), as honcho did for `make run`. `children` is read
    on every pass, so processes started later are echoed too."""

    def __init__(self, children: dict[str, Child], out=None, every: float = 0.2) -> None:
        self.children = children
        self.out = out or sys.stdout
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="launcher-echo", daemon=True)
        self._offsets: dict[str, int] = {}

    def __enter__(self) -> Echo:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join(2)
        self._copy()  # the last words of processes that were just stopped

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self._copy()

    def _copy(self) -> None:
        for child in list(self.children.values()):
            with contextlib.suppress(OSError):
                with child.log.open("rb") as log:
                    log.seek(self._offsets.get(child.name, 0))
                    data = log.read()
                # Only whole lines: the rest is printed once its newline arrives.
                complete = data[: data.rfind(b"\n") + 1]
                self._offsets[child.name] = self._offsets.get(child.name, 0) + len(complete)
                for line in complete.decode(errors="replace").splitlines():
                    self.out.write(f"{child.name:<6} | {line}\n")
        self.out.flush()
