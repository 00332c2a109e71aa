"""One engine child process: `python -m engine.child`, started by the supervisor only.

It reads its orders (role, unix socket, config, peers) as one JSON line on stdin, fixes its
thread pools, then serves its role's aiohttp app on the private unix socket. It never outlives
the parent: Linux delivers SIGTERM when the parent dies (PR_SET_PDEATHSIG), and a watchdog
thread that sees stdin close (the parent's end of the pipe) exits too, which also covers the
moment before prctl took effect and systems without it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .roles import thread_env

log = logging.getLogger("engine.child")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
GRACE_AFTER_PARENT_S = 5.0


def die_with_parent(parent_pid: int) -> None:
    """Ask Linux for SIGTERM when the parent goes; exit now if it already went."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            log.warning("prctl(PR_SET_PDEATHSIG) unavailable; relying on the stdin watchdog")
    if os.getppid() != parent_pid:  # the parent died before prctl: nobody would signal us
        os._exit(1)


def watch_stdin() -> None:
    """Exit when the parent's end of stdin closes (the parent is gone or told us to go)."""

    def wait() -> None:
        # A raw read: a thread blocked in sys.stdin.buffer holds its lock, and the interpreter's
        # shutdown then dies on it ("Fatal Python error: _enter_buffered_busy") at every stop.
        try:
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)  # a clean stop first ...
        time.sleep(GRACE_AFTER_PARENT_S)
        os._exit(1)  # ... and no orphan if it hangs

    threading.Thread(target=wait, name="parent-watch", daemon=True).start()


def lower_priority(increment: int) -> None:
    """Add to this process's niceness, and to its autogroup's.

    The child leads its own session (supervisor.py), and Linux's autogroups (sched(7), on by
    default) make each session a scheduling group weighed against the others by the group's
    nice alone: with `os.nice` only, the LLM yielded to the media process but took as much CPU
    as the browser or daphne (measured: 45-56 % of a core while a talk's first clause was
    synthesised). The group is this process alone, so its nice is set to the process's.
    """
    niceness = os.nice(increment)
    with contextlib.suppress(OSError):  # no autogroups in this kernel, or not allowed
        Path("/proc/self/autogroup").write_text(str(niceness))


def read_orders() -> dict:
    line = sys.stdin.buffer.readline()
    if not line:
        sys.exit("engine child: no orders on stdin (it is started by the engine's parent)")
    return json.loads(line)


def main() -> None:
    orders = read_orders()
    die_with_parent(int(orders["parent_pid"]))
    watch_stdin()
    if orders.get("nice"):
        lower_priority(int(orders["nice"]))
    # Before the numeric libraries load: their pools size themselves from these at import.
    os.environ.update(thread_env(int(orders["threads"])))
    logging.basicConfig(
        level=orders.get("log_level", "INFO"),
        format=f"%(asctime)s %(levelname)s [{orders['role']}] %(name)s: %(message)s",
    )
    # Imported after the thread settings, on purpose (see above).
    from aiohttp import web

    from .config import EngineConfig
    from .server import build_role_app

    config = EngineConfig.from_json(orders["config"])
    app = build_role_app(
        orders["role"], config, instance=orders.get("instance"), peers=orders.get("peers", {})
    )
    log.info("%s process %d serving on %s", orders["role"], os.getpid(), orders["socket"])
    # The parent logs each request it relays; the children's would double that, plus its polls.
    try:
        web.run_app(
            app,
            path=orders["socket"],
            print=None,
            handle_signals=True,
            access_log=None,
            shutdown_timeout=2.0,  # the parent gives 5 s before SIGKILL
        )
    finally:
        remove_socket(orders["socket"])


def remove_socket(path: str) -> None:
    """Leave nothing in /tmp, even when the parent was killed and cannot clean up."""
    with contextlib.suppress(OSError):
        os.unlink(path)
    with contextlib.suppress(OSError):  # the last child out removes the parent's directory
        os.rmdir(os.path.dirname(path))


if __name__ == "__main__":
    main()
