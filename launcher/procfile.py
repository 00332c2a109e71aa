"""The Procfile: the one list of the product's processes and their commands.

`make run`, the browser tests and the benchmarks start these lines through the launcher;
docker-compose spells the same commands out per service (tests/unit/test_deployment_files.py
keeps the two in step), and any Procfile runner (honcho, foreman, a PaaS) can run it as it is.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PROCFILE = BASE_DIR / "Procfile"
LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+):\s*(?P<command>.+)$")


def read(path: Path = PROCFILE) -> dict[str, str]:
    """`name: command` lines, in order (blank lines and `#` comments skipped)."""
    entries: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = LINE.match(line.strip())
        if match is None:
            raise ValueError(f"{path}:{number}: not a `name: command` line: {line!r}")
        entries[match["name"]] = match["command"].strip()
    return entries


def argv(command: str, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """How a Procfile runner runs a line: by the shell (for `$PORT` and `${VAR:-default}`),
    `exec`ed so that the process is the shell's pid and gets our signals; `extra` arguments
    are appended (Celery and daphne take the last of a repeated option)."""
    tail = f" {shlex.join(extra)}" if extra else ""
    return ["/bin/sh", "-c", f"exec {command}{tail}"]
