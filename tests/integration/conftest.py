"""Live-session fixtures: the real Redis channel layer, a real Celery worker (in a thread, on a
queue of its own), and the cloud vendors faked at the HTTP/WebSocket boundary."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from .fakes import FakeDID, FakeGroq


@pytest.fixture(scope="session")
def _session_celery_worker(django_db_setup, django_db_blocker):
    from celery.contrib.testing.worker import start_worker
    from celery.signals import task_postrun
    from django.db import connection

    from config.celery import app

    # The worker thread's database connection must not outlive its task, or the test database
    # cannot be dropped at the end of the run.
    task_postrun.connect(lambda **kwargs: connection.close(), weak=False)

    queue = f"test-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    # Replies are routed to the `replies` queue (config/settings.py): here to this run's queue
    # too, so that this worker runs them and no other test run's worker does.
    app.conf.task_routes = {task: {"queue": queue} for task in app.conf.task_routes}
    app.amqp.flush_routes()
    app.amqp.router = app.amqp.Router()
    with start_worker(app, pool="solo", concurrency=1, perform_ping_check=False, queues=[queue],
                      shutdown_timeout=10):
        yield app


class _TasksInFlight:
    """Counts, per task id, the messages published minus the runs finished (a retry is both)."""

    def __init__(self):
        self.open: dict[str, int] = {}

    def published(self, headers=None, **kwargs):
        task_id = (headers or {}).get("id")
        if task_id:
            self.open[task_id] = self.open.get(task_id, 0) + 1

    def finished(self, task_id=None, **kwargs):
        if task_id in self.open:
            self.open[task_id] -= 1

    def pending(self) -> int:
        return sum(count for count in self.open.values() if count > 0)


@pytest.fixture
def celery_worker(_session_celery_worker):
    """The shared worker, and at teardown a wait for every task this test queued to finish.

    A reply still being written when the test ends would otherwise touch the database while the
    next test's flush runs: PostgreSQL then refuses the flush ("couldn't be flushed") and the
    following test finds the last one's rows. Requested after the database fixture, so this
    teardown runs before its flush.
    """
    from celery.signals import before_task_publish, task_postrun

    tasks = _TasksInFlight()
    before_task_publish.connect(tasks.published, weak=False)
    task_postrun.connect(tasks.finished, weak=False)
    try:
        yield _session_celery_worker
        deadline = time.monotonic() + 20
        while tasks.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not tasks.pending(), f"{tasks.pending()} task(s) queued by this test never finished"
    finally:
        before_task_publish.disconnect(tasks.published)
        task_postrun.disconnect(tasks.finished)


@pytest.fixture
def fake_did():
    return FakeDID()


@pytest.fixture
def fake_groq():
    return FakeGroq()


@pytest.fixture
def vendors(settings, fake_did, fake_groq):
    """D-ID and Groq answer through MockTransport; everything else about the clients is real."""
    from streaming.providers.registry import use_transport

    settings.DID_API_URL = "https://api.d-id.test"
    settings.DID_API_KEY = "did-test-key"
    settings.GROQ_BASE_URL = "https://api.groq.test"
    settings.GROQ_API_KEY = "groq-test-key"
    settings.DID_INTERRUPT_EXTENSION = True
    settings.PROVIDER_TIMEOUT = 2.0

    async def route(request: httpx.Request) -> httpx.Response:
        if request.url.host == "api.groq.test":
            return await fake_groq.handler(request)
        return await fake_did.handler(request)

    with use_transport(httpx.MockTransport(route)):
        yield


class Session:
    """A browser's WebSocket as the consumer sees it."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.ws = communicator
        self.seen: list[dict] = []

    async def send(self, **payload) -> None:
        await self.ws.send_json_to(payload)

    async def receive(self, within: float = 10) -> dict:
        message = await self.ws.receive_json_from(timeout=within)
        self.seen.append(message)
        return message

    async def expect(self, kind: str, within: float = 15) -> dict:
        """The next message of type `kind`, skipping others (they stay in `seen`)."""
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind!r} within {within}s; saw {[m['type'] for m in self.seen]}")
            message = await self.receive(within=remaining)
            if message["type"] == kind:
                return message

    async def close(self) -> None:
        await self.ws.disconnect()


@pytest.fixture
def open_session():
    from streaming.routing import websocket_urlpatterns

    application = URLRouter(websocket_urlpatterns)

    async def open_(conversation, user, *, expect_offer: bool = True):
        communicator = WebsocketCommunicator(application, f"/ws/sessions/{conversation.pk}/")
        communicator.scope["user"] = user
        connected, code = await communicator.connect(timeout=10)
        session = Session(communicator)
        session.connected, session.code = connected, code
        if connected and expect_offer:
            await session.expect("rtc.offer")
        return session

    return open_


async def wait_for(predicate, within: float = 10.0, interval: float = 0.05):
    """Poll an async or sync predicate until it is truthy."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError("condition not met in time")
