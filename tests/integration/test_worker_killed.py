"""SIGKILL the Celery worker in the middle of a reply: within the reaper's next pass after the
reply's heartbeat lapses, the reply is marked failed and the page gets an error and the
reply.done it was waiting for. A real worker on the thread pool, started the way the Procfile's
`replies` line starts it; the LLM is a local server that streams Groq's chunks slowly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.db import connection

from conversations.models import Conversation, Message
from streaming import reply_watch
from streaming.tasks import generate_reply, reap_idle_sessions

from .fakes import sse_chunks
from .test_reply_recovery import Page

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(240)]

ROOT = Path(__file__).resolve().parents[2]


class SlowGroq(BaseHTTPRequestHandler):
    """POST /openai/v1/chat/completions: one SSE chunk every half second, for a minute."""

    def do_POST(self):  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        try:
            for part in sse_chunks([f" This is sentence number {i}." for i in range(120)]).split(b"\n\n"):
                self.wfile.write(part + b"\n\n")
                self.wfile.flush()
                time.sleep(0.5)
        except OSError:
            pass  # the worker was killed

    def log_message(self, *args):
        pass


def database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    return (f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
            f"{db['PORT'] or 5432}/{db['NAME']}")


@pytest.fixture
def slow_llm():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowGroq)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def worker(settings, slow_llm, tmp_path):
    """A thread-pool worker (as the Procfile's `replies`) on a queue of its own, in its own
    process group."""
    queue = f"kill-{uuid.uuid4().hex[:8]}"
    log = tmp_path / "worker.log"
    env = {**os.environ, "DATABASE_URL": database_url(), "REDIS_URL": settings.REDIS_URL,
           "GROQ_BASE_URL": slow_llm, "GROQ_API_KEY": "test", "SECRET_KEY": "test-" * 10,
           "TESTING": "true", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-P", "threads", "-c", "2",
         "-Q", queue, "--loglevel", "INFO", "--without-gossip", "--without-mingle",
         "--hostname", f"{queue}@%h"],
        cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 90
    while b" ready." not in log.read_bytes():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "worker not ready:\n" + log.read_text()
        time.sleep(0.2)
    yield queue, process, log
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


async def until(predicate, within: float):
    deadline = time.monotonic() + within
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def test_a_reply_whose_worker_is_killed_is_failed_and_the_page_told(worker, alice, avatar):
    queue, process, log = worker
    conversation = await Conversation.objects.acreate(user=alice, avatar=avatar, status="live")
    question = await Message.objects.acreate(conversation=conversation, role="user",
                                             source="text", text="Tell me a long story.")
    async with Page(conversation) as page:
        await sync_to_async(generate_reply.apply_async)(
            (str(conversation.pk), question.pk), queue=queue)

        async def speaking():  # a first sentence saved (and sent to the avatar)
            return await Message.objects.filter(reply_to=question).exclude(text="").aexists()

        await until(speaking, within=60)
        reply = await Message.objects.aget(reply_to=question)
        os.killpg(process.pid, signal.SIGKILL)  # the worker and its threads, mid-reply
        process.wait(timeout=10)

        async def heartbeat_lapsed():
            return not await reply_watch.is_alive(reply.pk)

        await until(heartbeat_lapsed, within=reply_watch.HEARTBEAT_TTL + 10)
        await sync_to_async(reap_idle_sessions)()  # the reaper's next pass
        seen = []
        while not seen or seen[-1]["type"] != "reply.done":
            seen.append(await page.next(within=10))

    await reply.arefresh_from_db()
    assert reply.error == "reply_lost" and reply.completed_at is not None
    # What was saved before the kill is kept; the rest was never written.
    assert reply.text.strip().startswith("This is sentence number 0.")
    assert "sentence number 119." not in reply.text
    errors = [m for m in seen if m["type"] == "error"]
    assert errors and errors[-1]["code"] == "reply_lost"
    assert seen[-1]["message_id"] == reply.pk and seen[-1]["interrupted"] is True
