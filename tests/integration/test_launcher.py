"""`make run` (`python -m launcher`) stops every process it started on Ctrl-C or SIGTERM, and
stops the rest when one of them dies. Only Celery beat is started (the lightest process that
needs the database and Redis), and the replies worker on its own; the browser tests run the
whole stack through the same code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from celery import Celery
from django.conf import settings as django_settings

from launcher import Stack
from launcher.backing import CLAIM_KEY, BackingError, RedisClaim, free_port
from launcher.processes import alive, descendants

from ..waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def make_run(tmp_path):
    """`python -m launcher --only beat` on a database, VAR_DIR and port of its own; the
    process, its console output file and its beat's pid once it says it is up."""
    out = tmp_path / "console.txt"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    with out.open("w") as console:
        process = subprocess.Popen(
            [sys.executable, "-m", "launcher", "--only", "beat", "--port", str(free_port())],
            cwd=REPO, env=env, stdout=console, stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: "LivePersona: http://127.0.0.1:" in out.read_text(), 120, "start")
        below = descendants(process.pid)
        beat = next(pid for pid in below
                    if b"beat" in Path(f"/proc/{pid}/cmdline").read_bytes())
        yield process, out, beat, below
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_every_process_and_exits_cleanly(make_run, sig):
    process, out, beat, below = make_run
    assert "login: demo / " in out.read_text()
    process.send_signal(sig)
    assert process.wait(30) == 0, out.read_text()
    assert not [pid for pid in below if alive(pid)], out.read_text()
    assert "Stopping..." in out.read_text()


def test_when_a_process_dies_the_launcher_says_which_and_stops(make_run):
    process, out, beat, below = make_run
    os.kill(beat, signal.SIGKILL)
    assert process.wait(30) == 1
    assert "beat exited (code -9)" in out.read_text()
    assert not [pid for pid in below if alive(pid)]


def test_an_isolated_stack_never_takes_a_redis_db_someone_else_uses(settings):
    """Tests elsewhere may use a db number without claiming it: the launcher must not flush
    their data. (Only the refusal is exercised here: a successful claim flushes on release.)"""
    db = int(settings.REDIS_URL.rsplit("/", 1)[1] or 0)
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.set("someone-else", "data")
    try:
        with pytest.raises(BackingError, match="is free"):
            RedisClaim(settings.REDIS_URL, dbs=range(db, db + 1)).claim()
        assert client.get("someone-else") == b"data"
        assert client.get(CLAIM_KEY) is None
    finally:
        client.delete("someone-else")


def test_the_replies_worker_consumes_the_replies_queue_alone_on_threads(tmp_path):
    """The Procfile's `replies` line, started by the launcher as `make run` and the browser
    tests start it: healthy only once `replies@...` answers, and consuming only `replies`."""
    with Stack(name="replies-worker", processes=("replies",), migrate=False, bootstrap=False,
               log_dir=tmp_path / "stack") as stack:
        app = Celery(broker=stack.env["REDIS_URL"])
        try:
            inspect = app.control.inspect(timeout=2)
            queues, stats = inspect.active_queues(), inspect.stats()
        finally:
            app.close()
    [(node, consumed)] = queues.items()
    assert node.startswith("replies@")
    assert [queue["name"] for queue in consumed] == [django_settings.REPLIES_QUEUE]
    assert stats[node]["pool"]["implementation"].endswith("thread:TaskPool")
    assert stats[node]["prefetch_count"] == stats[node]["pool"]["max-concurrency"]  # 1 each
