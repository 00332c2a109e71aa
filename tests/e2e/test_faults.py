"""Fault injection against the whole stack, started as `make run` starts it (launcher.Stack).

Each test starts from a live conversation with a reply in flight, breaks one process, and then
checks, within a bounded wait (the reaper runs every REAPER_INTERVAL s here):
- no provider stream left open on the engine that no open conversation holds (orphans);
- no user message the client saw saved (`transcript.final`) missing from the database;
- every reply complete, or marked failed/interrupted (Message.completed_at set);
- what the client saw: an error code or `session.ended`, and whether it could go on.
Every outcome goes into a table, printed (-s) and written to test-artifacts/faults.json.

The client is a plain WebSocket (bench.live_client) with an aiortc peer answering the engine's
offer, as a browser would; only the browser fault uses Chromium. Slow: about 10 minutes in all
(one stack for the module; the engine's restart reloads its models).

Processes are killed and restarted on the test's own (main) thread, blocking the event loop for
that while: a child is signalled when the thread that spawned it ends (PR_SET_PDEATHSIG, see
launcher/processes.py), so a restart from asyncio.to_thread would die with its pool thread.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from bench.live_client import LiveSocket
from bench.receiver import ReceivingPeer
from launcher import Stack
from launcher.page import chromium_installed, launch_chromium, open_live_page
from launcher.processes import descendants, group_members

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

REAPER_INTERVAL = 5
GRACE = 3
# A reply whose worker died counts as lost once its heartbeat key expires (HEARTBEAT_TTL in
# streaming/reply_watch.py, 7 s); the next reaper pass then fails it.
HEARTBEAT_TTL = 7
SETTLE = HEARTBEAT_TTL + 3 * REAPER_INTERVAL
QUESTION = "Tell me the whole story of your first flight to the moon, step by step."
FAULT_ENV = {
    "REAPER_INTERVAL": str(REAPER_INTERVAL),
    "DISCONNECT_GRACE_SECONDS": str(GRACE),
    "STREAM_CLOSE_RECOVERY_SECONDS": str(REAPER_INTERVAL),
    "LLM_MAX_TOKENS": "120",  # long enough to break mid-reply, short enough for two cores
    "MAX_LIVE_SESSIONS_PER_USER": "20",
}


@pytest.fixture(scope="module")
def fault_stack(artifacts: Path):
    if not chromium_installed():
        pytest.skip("Debian's chromium is not installed (`make browser` installs it)")
    with Stack(name="faults", log_dir=artifacts / "faults-stack", env=FAULT_ENV,
               private_redis=True) as running:  # a Redis of its own, to restart
        yield running


@pytest.fixture(scope="module")
def outcomes(artifacts: Path):
    table: dict[str, dict] = {}
    yield table
    (artifacts.parent / "faults.json").write_text(json.dumps(table, indent=2) + "\n")
    print("\nfault            orphans  lost  unfinished  settled_s  client saw")
    for fault, row in table.items():
        print(f"{fault:<16} {row.get('orphans')!s:>7}  {row.get('messages_lost')!s:>4}  "
              f"{row.get('replies_unfinished')!s:>10}  {row.get('settled_s')!s:>9}  "
              f"{row.get('client_saw')}")


# The database, as the stack's own manage.py sees it ---------------------------------------------

STATE = """
import json
from conversations.models import Conversation, Message
ids = {ids!r}
print(json.dumps({{
  "conversations": [dict(id=str(c.pk), status=c.status, end_reason=c.end_reason,
      stream=c.provider_stream_id, closed=bool(c.stream_closed_at),
      confirmed=c.stream_close_confirmed_id) for c in Conversation.objects.all()],
  "messages": [dict(id=m.pk, role=m.role, text=m.text, conversation=str(m.conversation_id),
      done=m.completed_at is not None, interrupted=m.interrupted, error=m.error,
      reply_to=m.reply_to_id) for m in Message.objects.filter(conversation_id__in=ids)],
}}))
"""


def database(stack: Stack, conversations: list[str]) -> dict:
    return json.loads(stack.shell(STATE.format(ids=conversations)).splitlines()[-1])


def orphans(stack: Stack, state: dict) -> list[str]:
    """Engine streams that no open conversation holds as its current, unclosed stream."""
    held = {c["stream"] for c in state["conversations"]
            if c["status"] in ("connecting", "live") and c["stream"] and not c["closed"]}
    return [s["id"] for s in stack.engine_streams(None) if s["id"] not in held]


def verdict(stack: Stack, conversations: list[str], saved: dict[int, str]) -> dict:
    state = database(stack, conversations)
    in_db = {m["id"]: m["text"] for m in state["messages"] if m["role"] == "user"}
    lost = [i for i, text in saved.items() if in_db.get(i) != text]
    replies = [m for m in state["messages"] if m["role"] == "assistant"]
    unanswered = [i for i in in_db if not any(r["reply_to"] == i for r in replies)]
    return {
        "orphans": len(orphans(stack, state)),
        "messages_lost": len(lost),
        "replies_unfinished": sum(not r["done"] for r in replies),
        "replies_failed": sorted({r["error"] for r in replies if r["error"]}),
        "questions_unanswered": len(unanswered),
        "conversations": {c["id"][:8]: f"{c['status']}/{c['end_reason'] or '-'}"
                          for c in state["conversations"] if c["id"] in conversations},
    }


async def settle(stack: Stack, conversations: list[str], saved: dict[int, str], *,
                 since: float, within: float = SETTLE) -> dict:
    """Poll until no orphan, nothing lost and no reply unfinished (or `within` s pass)."""
    deadline = time.monotonic() + within
    while True:
        found = await asyncio.to_thread(verdict, stack, conversations, saved)
        found["settled_s"] = round(time.monotonic() - since, 1)
        if not (found["orphans"] or found["messages_lost"] or found["replies_unfinished"]):
            return found
        if time.monotonic() > deadline:
            found["settled_s"] = None
            return found
        await asyncio.sleep(1.0)


# The client: what the live page does, without a browser ---------------------------------------


class Client:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.http = httpx.AsyncClient(base_url=stack.url, timeout=30)
        self.socket: LiveSocket | None = None
        self.peer: ReceivingPeer | None = None
        self.conversation = ""
        self.saved: dict[int, str] = {}  # transcript.final seen: message id -> text

    async def log_in(self) -> None:
        page = await self.http.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        await self.http.post("/accounts/login/", data={
            "username": "demo", "password": self.stack.credentials["demo"],
            "csrfmiddlewaretoken": token,
        }, headers={"Referer": f"{self.stack.url}/accounts/login/"})
        assert "sessionid" in self.http.cookies, "login failed"

    async def start(self) -> str:
        response = await self.http.post("/talk/astronaut/sessions/", headers={
            "X-CSRFToken": self.http.cookies["csrftoken"],
            "Referer": f"{self.stack.url}/talk/astronaut/"})
        assert response.status_code == 201, response.text
        self.conversation = response.json()["conversation"]
        await self.attach()
        return self.conversation

    async def attach(self) -> None:
        """Open the socket (again) and answer the avatar's offer: the page's (re)connect."""
        if self.peer is not None:
            await self.peer.close()
        port = int(self.stack.url.rsplit(":", 1)[1])
        self.socket = await LiveSocket.open(port, self.conversation, self.http.cookies["sessionid"])
        offer, _ = await self.socket.expect("rtc.offer", within=90)
        self.peer = ReceivingPeer(on_event=self._relay)
        answer = await self.peer.answer(offer["sdp"], data_channel_label="JanusDataChannel")
        await self.socket.send("rtc.answer", sdp=answer)
        await self.socket.send("rtc.ice", candidate=None, sdpMid=None, sdpMLineIndex=None)
        await asyncio.wait_for(self.peer.first_video.wait(), 60)

    def _relay(self, name: str, payload: str, at: float) -> None:
        if name in ("stream/started", "stream/done", "stream/error") and self.socket is not None:
            asyncio.get_running_loop().create_task(self.socket.send("avatar.event", event=name))

    async def ask(self, text: str = QUESTION) -> dict:
        """Send typed text; return once its reply has streamed a first piece (mid-reply)."""
        await self.socket.send("chat.text", text=text)
        final, _ = await self.socket.expect("transcript.final", within=30)
        self.saved[final["message_id"]] = final["text"]
        started, _ = await self.socket.expect("reply.started", within=120)
        await self.socket.expect("reply.delta", within=120)
        return started

    async def saw(self, *kinds: str, within: float) -> dict | None:
        """The first frame of one of `kinds` (or a close) within `within` s; None if none."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                message, _ = await asyncio.wait_for(self.socket.queue.get(),
                                                    deadline - time.monotonic())
            except TimeoutError:
                break
            self.socket.seen.append((message, 0))
            if message["type"] in (*kinds, "_closed"):
                return message
        return None

    async def goes_on(self) -> bool:
        """The conversation can go on: a new question gets a complete reply."""
        await self.socket.send("chat.text", text="And what did you see out of the window?")
        final, _ = await self.socket.expect("transcript.final", within=30)
        self.saved[final["message_id"]] = final["text"]
        while True:
            done, _ = await self.socket.expect("reply.done", within=180)
            if done.get("reply_to") == final["message_id"]:
                return not done.get("error")

    async def end(self) -> None:
        if self.socket is not None and self.socket.closed_with is None:
            await self.socket.send("session.end", reason="user")
            await self.saw("session.ended", within=20)
            await self.socket.close()

    async def close(self) -> None:
        if self.peer is not None:
            await self.peer.close()
        if self.socket is not None:
            await self.socket.close()
        await self.http.aclose()


def errors_seen(client: Client) -> list[str]:
    seen = []
    for m, _ in client.socket.seen:
        if m["type"] in ("error", "session.ended"):
            seen.append(f"{m['type']} {m.get('code') or m.get('reason')}")
        elif m["type"] == "reply.done" and m.get("error"):
            seen.append(f"reply.done error={m['error']}")
    return seen


async def start_live(stack: Stack) -> Client:
    client = Client(stack)
    await client.log_in()
    await client.start()
    await client.ask()
    return client


async def can_start_again(stack: Stack) -> bool:
    """A new conversation opens and its avatar's media flows."""
    fresh = Client(stack)
    try:
        await fresh.log_in()
        await fresh.start()
        await fresh.end()
        return True
    finally:
        await fresh.close()


def restart_dead(stack: Stack, within: float = 10) -> list[str]:
    """Processes that exited after a fault (watched for `within` s), each started again, as a
    process manager (compose's `restart: unless-stopped`, systemd) would; then healthy."""
    died = []
    deadline = time.monotonic() + within
    while True:
        for child in list(stack.children.values()):
            if not child.alive():
                died.append(child.name)
                stack.restart(child.name, wait=False)
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    stack.wait_healthy()
    return died


@pytest.fixture(autouse=True)
def healthy_stack(fault_stack):
    """Each fault starts from a whole stack, whatever the one before left dead."""
    restart_dead(fault_stack, within=0)


def record(outcomes: dict, fault: str, row: dict) -> dict:
    outcomes[fault] = row
    return row


def assert_clean(row: dict) -> None:
    assert row["orphans"] == 0, row
    assert row["messages_lost"] == 0, row
    assert row["replies_unfinished"] == 0, row
    assert row["settled_s"] is not None, row


# The faults ---------------------------------------------------------------------------------


async def test_worker_killed_mid_reply(fault_stack, outcomes):
    stack = fault_stack
    client = await start_live(stack)
    try:
        killed = time.monotonic()
        stack.kill("replies", signal.SIGKILL)  # the worker that runs replies (streaming/tasks.py)
        stack.restart("replies")
        failed = await client.saw("reply.done", within=SETTLE + 10)
        row = await settle(stack, [client.conversation], client.saved, since=killed)
        row["client_saw"] = errors_seen(client) or [failed and failed["type"]]
        row["went_on"] = await client.goes_on()
        await client.end()
    finally:
        await client.close()
    row["orphans_after_end"] = (await settle(stack, [client.conversation], client.saved,
                                             since=killed, within=3 * REAPER_INTERVAL))["orphans"]
    record(outcomes, "worker SIGKILL", row)
    assert_clean(row)
    assert "error reply_lost" in row["client_saw"], row
    assert row["went_on"], row


# Found by this test, both fixed: the Celery worker exited when the broker connection dropped
# with an acks_late task unacknowledged (now it reconnects: config/settings.py), and a live
# socket stayed out of its channel-layer group after Redis restarted empty, so replies never
# reached it (now it re-joins: streaming/presence.py `rejoin`).
async def test_redis_restarted_mid_session(fault_stack, outcomes):
    stack = fault_stack
    client = await start_live(stack)
    try:
        restarted = time.monotonic()
        stack.restart("redis", wait=False)  # the others may not survive it: see below
        died = restart_dead(stack, within=15)
        await client.saw("reply.done", within=SETTLE + 10)
        row = await settle(stack, [client.conversation], client.saved, since=restarted)
        row["client_saw"] = errors_seen(client) or ["nothing"]
        row["processes_died"] = died
        try:
            row["went_on"] = await client.goes_on()
        except (TimeoutError, ConnectionError) as exc:
            row["went_on"] = False
            row["went_on_failure"] = str(exc)[:200]
        await client.end()
    finally:
        await client.close()
    row["started_again"] = await can_start_again(stack)
    row["orphans_after_end"] = (await settle(stack, [client.conversation], client.saved,
                                             since=restarted, within=3 * REAPER_INTERVAL))["orphans"]
    record(outcomes, "redis restart", row)
    assert_clean(row)
    assert row["went_on"] or row["client_saw"] != ["nothing"], row
    assert not row["processes_died"], row
    assert row["started_again"], row


async def test_daphne_restarted_mid_session(fault_stack, outcomes):
    stack = fault_stack
    client = await start_live(stack)
    try:
        killed = time.monotonic()
        stack.kill("web", signal.SIGKILL)
        closed = await client.saw("session.ended", within=10)
        stack.restart("web")
        await client.socket.close()
        await client.attach()  # the page reconnects to the same conversation
        row = await settle(stack, [client.conversation], client.saved, since=killed)
        row["client_saw"] = [f"socket closed {closed and closed.get('code')}",
                             *errors_seen(client)] + ["reconnected"]
        row["went_on"] = await client.goes_on()
        await client.end()
    finally:
        await client.close()
    row["orphans_after_end"] = (await settle(stack, [client.conversation], client.saved,
                                             since=killed, within=3 * REAPER_INTERVAL))["orphans"]
    record(outcomes, "daphne restart", row)
    assert_clean(row)
    assert row["went_on"], row
    assert row["orphans_after_end"] == 0, row


async def test_engine_killed_mid_session(fault_stack, outcomes):
    stack = fault_stack
    client = await start_live(stack)
    group = stack.pid("engine")
    try:
        killed = time.monotonic()
        stack.kill("engine", signal.SIGKILL, group=False)  # the parent
        await asyncio.sleep(3)
        left = group_members(group)  # its children must not outlive it
        stack.restart("engine")
        # The stream died with the engine: the next word the avatar should say fails clearly.
        await client.socket.send("chat.text", text="Are you still there?")
        final, _ = await client.socket.expect("transcript.final", within=30)
        client.saved[final["message_id"]] = final["text"]
        await client.saw("error", "session.ended", within=120)
        row = await settle(stack, [client.conversation], client.saved, since=killed)
        row["engine_processes_left"] = len(left)
        row["client_saw"] = errors_seen(client) or ["nothing"]
        await client.end()
    finally:
        await client.close()
    row["started_again"] = await can_start_again(stack)
    record(outcomes, "engine SIGKILL", row)
    assert_clean(row)
    assert row["engine_processes_left"] == 0, row
    assert row["client_saw"] != ["nothing"], row
    assert row["started_again"], row


def in_thread(coro):
    """Run a coroutine to its end on a thread of its own (Playwright's sync API owns this one)."""
    result = {}

    def run() -> None:
        try:
            result["value"] = asyncio.run(coro)
        except BaseException as exc:  # re-raised on the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


def chromium_pids() -> list[int]:
    """Every Chromium process below this one: the browser, its renderers and its network
    service. A crash or the OOM killer takes them all; killing only the browser process left
    the network service holding the page's socket open for as long as it took to notice."""
    found = []
    for pid in descendants(os.getpid()):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"chromium" in argv[0]:
            found.append(pid)
    return found


def test_browser_killed_mid_reply(fault_stack, outcomes, playwright_driver):
    stack = fault_stack
    browser = launch_chromium(playwright_driver)
    try:
        live, _ = open_live_page(browser, stack.url, "demo", stack.credentials["demo"])
        conversation = live.conversation
        sent = live.say_in_writing(QUESTION)
        final = live.wait_message("transcript.final", since=sent, timeout=30)["data"]
        live.wait_message("reply.delta", since=sent, timeout=120)
        pids = chromium_pids()
        assert pids, "Chromium's processes were not found"
        killed = time.monotonic()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # a helper that went with the browser already
                pass
    finally:
        try:
            browser.close()
        except Exception:  # the browser is gone: Playwright may say so
            pass
    row = in_thread(settle(stack, [conversation], {final["message_id"]: final["text"]},
                             since=killed))
    # The reply may settle before the grace period is over: the conversation ends after it.
    deadline = time.monotonic() + GRACE + 3 * REAPER_INTERVAL
    while True:
        state = database(stack, [conversation])
        ended = [c for c in state["conversations"] if c["id"] == conversation][0]
        if ended["status"] in ("ended", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    row["client_saw"] = ["(browser gone)"]
    row["conversation"] = f"{ended['status']}/{ended['end_reason']}"
    row["started_again"] = in_thread(can_start_again(stack))
    record(outcomes, "browser killed", row)
    assert_clean(row)
    assert ended["status"] in ("ended", "failed"), row
    assert row["started_again"], row
