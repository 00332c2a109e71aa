"""`make run`: the whole product on this machine, every process's output on the console.

    python -m launcher [--port 8000] [--only web,worker,replies,beat]

Migrates and bootstraps the configured database, uses the configured Redis (or starts an
embedded one on :6390 when it does not answer), starts the Procfile's processes and stops them
all on Ctrl-C or SIGTERM, or as soon as one of them exits. Logs: VAR_DIR/log/<process>.log.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from .processes import Echo
from .stack import PROCESSES, Stack, StackError


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the stack the way Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    parser.add_argument("--only", default=",".join(PROCESSES),
                        help="the Procfile's processes to start (e.g. no engine when every "
                             "avatar uses the cloud vendors)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        stack = Stack(name="run", isolated=False, port=args.port,
                      processes=[p.strip() for p in args.only.split(",") if p.strip()])
    except StackError as exc:
        parser.error(str(exc))
    print("Migrating the database and creating the demo users and avatar...", flush=True)
    with Echo(stack.children):  # left after stop(): the processes' last words are shown
        try:
            stack.start()
            print(f"\n  LivePersona: {stack.url}/")
            for user, password in stack.credentials.items():
                print(f"  login: {user} / {password}")
            print(f"  logs: {stack.log_dir}/<process>.log  (Ctrl-C stops everything)\n", flush=True)
            while (exited := stack.first_exited()) is None:
                time.sleep(0.5)
            print(f"\n{exited.name} exited (code {exited.popen.returncode}); stopping the rest.")
            return 1
        except StackError as exc:
            print(f"\nLivePersona did not start: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nStopping...", flush=True)
            return 0
        finally:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
