"""The SECRET_KEY that `make run` generates once and keeps under VAR_DIR.

Production sets SECRET_KEY in the environment; a machine that just runs `make run` gets its own
random key instead of a published default. Imported by the settings: it imports no Django.

Usage: python -m config.secret_key   (creates $VAR_DIR/secret_key unless it exists)
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import environ

FILENAME = "secret_key"


def read(var_dir) -> str:
    """The key stored under `var_dir`, or "" when there is none."""
    try:
        return (Path(var_dir) / FILENAME).read_text().strip()
    except FileNotFoundError:
        return ""


def ensure(var_dir) -> Path:
    """Create the key file (owner-only) unless it exists; its path."""
    path = Path(var_dir) / FILENAME
    if not read(var_dir):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(50) + "\n")
    return path


def main() -> int:
    base_dir = Path(__file__).resolve().parent.parent
    env = environ.Env()
    environ.Env.read_env(base_dir / ".env", overwrite=False)
    var_dir = env.path("VAR_DIR", default=base_dir / "var")
    print(f"SECRET_KEY kept in {ensure(var_dir)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
