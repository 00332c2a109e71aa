"""The engine as processes: a parent on the public port, one child per role, none left behind.

These start the real program (`python -m engine`) and look at the processes through /proc.
No timing is asserted: the waits below are generous ceilings, not goals.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from websockets.exceptions import ConnectionClosedOK, InvalidStatus
from websockets.sync.client import connect

from engine import media_claim
from launcher.backing import free_port
from launcher.processes import alive, children
from streaming.providers.http import RetryPolicy
from streaming.providers.tts.openai_speech import OpenAISpeech

from ..waiting import wait_for

pytestmark = [
    pytest.mark.engine,
    pytest.mark.timeout(300),
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-engine-key"
STARTUP_S = 180


class Engine:
    def __init__(self, modules: str) -> None:
        self.port = free_port()
        # The engine's sockets go to a directory of this test's own (short: sockets need it).
        self.tmp = Path(tempfile.mkdtemp(prefix="lpt-", dir="/tmp"))
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "ENGINE_HOST": "127.0.0.1",
            "ENGINE_PORT": str(self.port),
            "ENGINE_API_KEY": KEY,
            "ENGINE_MODULES": modules,
            "ENGINE_STT_NICE": "3",
            "ENGINE_LLM_NICE": "7",
            "TMPDIR": str(self.tmp),
        }
        self.log = self.tmp / "stderr.log"  # the parent's and its children's (they inherit it)
        with self.log.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                stderr=stderr,
            )

    def request(self, method: str, path: str, body: dict | None = None, auth: str = "Basic"):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"{auth} {KEY}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def health(self) -> dict | None:
        try:
            status, body = self.request("GET", "/health")
        except OSError:
            return None
        return body if status == 200 else None

    def ready(self) -> dict:
        return wait_for(
            lambda: (h := self.health()) and h["status"] == "ok" and h, STARTUP_S, "the engine"
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def start_engine():
    started: list[Engine] = []

    def start(modules: str = "") -> Engine:
        started.append(Engine(modules))
        return started[-1]

    yield start
    for engine in started:
        kids = children(engine.process.pid)
        engine.stop()
        for pid in kids:  # never leave a test's process behind, whatever the test asserted
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(engine.tmp, ignore_errors=True)


def autogroup_nice(pid: int) -> int:
    """The nice of the process's autogroup ("/autogroup-85 nice 0", sched(7))."""
    return int(Path(f"/proc/{pid}/autogroup").read_text().split()[-1])


def test_each_role_is_its_own_process_and_a_killed_child_is_restarted(start_engine):
    engine = start_engine("deepgram_listen,groq_chat")
    health = engine.ready()
    processes = health["processes"]
    assert set(processes) == {"media", "stt", "llm"}
    pids = {role: p["pid"] for role, p in processes.items()}
    assert len(set(pids.values())) == 3
    assert engine.process.pid not in pids.values()
    assert sorted(children(engine.process.pid)) == sorted(pids.values())
    for role, pid in pids.items():  # each child's numeric pools were fixed before they loaded
        environ = dict(
            item.split("=", 1)
            for item in Path(f"/proc/{pid}/environ").read_text().split("\0")
            if "=" in item
        )
        threads = str(processes[role]["threads"])
        assert environ["ENGINE_THREADS"] == environ["OMP_NUM_THREADS"] == threads
        assert environ["MALLOC_ARENA_MAX"] == "2"  # bounded fragmentation (engine/roles.py)
        # The media's claim on the CPU, shared with the LLM (engine/media_claim.py): one memfd.
        claim_fd = environ[media_claim.ENV]
        assert os.readlink(f"/proc/{pid}/fd/{claim_fd}").startswith("/memfd:engine-media-claim")
        media_fd = f"/proc/{pids['media']}/fd/{claim_fd}"
        assert os.stat(f"/proc/{pid}/fd/{claim_fd}").st_ino == os.stat(media_fd).st_ino
    # Each child runs at the niceness it was given, above the parent's (the media's default).
    parent_nice = os.getpriority(os.PRIO_PROCESS, engine.process.pid)
    assert {role: os.getpriority(os.PRIO_PROCESS, pid) - parent_nice
            for role, pid in pids.items()} == {"stt": 3, "llm": 7, "media": 0}
    assert {role: p["nice"] for role, p in processes.items()} == {"stt": 3, "llm": 7, "media": 0}
    # Each child leads its own session, so with the kernel's autogroups (on by default) it is
    # its own scheduling group, weighed against the browser's and daphne's by the group's nice,
    # not its own: the group must carry the niceness too, or the LLM is not behind anyone.
    if Path(f"/proc/{pids['llm']}/autogroup").exists():
        assert {role: autogroup_nice(pid) for role, pid in pids.items()} == {
            role: os.getpriority(os.PRIO_PROCESS, pid) for role, pid in pids.items()
        }

    # The LLM answers through the parent, in Groq's shape.
    status, body = engine.request(
        "POST",
        "/openai/v1/chat/completions",
        {
            "model": "llama-3.1-8b-instant",
            "messages": [{"role": "user", "content": "Hi"}],
            "max_tokens": 4,
        },
        auth="Bearer",
    )
    assert status == 200 and body["object"] == "chat.completion"

    # Groq's server-sent events come through the parent as they are made.
    request = urllib.request.Request(
        engine.url + "/openai/v1/chat/completions",
        data=json.dumps(
            {"model": "x", "stream": True, "max_tokens": 8,
             "messages": [{"role": "user", "content": "Say hello."}]}
        ).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = [line for line in response.read().decode().splitlines() if line]
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0][len("data: ") :])["object"] == "chat.completion.chunk"

    # Deepgram's WebSocket through the parent, with the browsers' subprotocol key too.
    url = f"ws://127.0.0.1:{engine.port}/v1/listen?encoding=linear16&sample_rate=16000"
    with connect(url, subprotocols=["token", KEY]) as ws:
        assert ws.subprotocol == "token"
        ws.send(b"\0" * 3200)
        ws.send(json.dumps({"type": "CloseStream"}))
        assert json.loads(ws.recv(timeout=60))["type"] == "Metadata"
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=30)
    with pytest.raises(InvalidStatus) as refused:
        connect(url, additional_headers={"Authorization": "Token wrong"})
    assert refused.value.response.status_code == 401

    os.kill(pids["llm"], signal.SIGKILL)
    health = wait_for(
        lambda: (
            (h := engine.health())
            and h["processes"]["llm"]["restarts"] == 1
            and h["processes"]["llm"]["ready"]
            and h
        ),
        STARTUP_S,
        "the LLM process to come back",
    )
    assert health["processes"]["llm"]["pid"] != pids["llm"]
    assert health["processes"]["llm"]["last_exit"] == "killed by SIGKILL"
    assert health["processes"]["media"]["pid"] == pids["media"]  # the others were left alone
    status, body = engine.request(
        "POST",
        "/openai/v1/chat/completions",
        {"model": "x", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
        auth="Bearer",
    )
    assert status == 200

    engine.process.send_signal(signal.SIGTERM)
    assert engine.process.wait(60) == 0
    survivors = [pid for pid in [health["processes"][r]["pid"] for r in pids] if alive(pid)]
    assert survivors == []


def test_a_stream_of_a_dead_media_process_ends_with_a_did_error(start_engine):
    engine = start_engine("")
    health = engine.ready()
    status, created = engine.request(
        "POST", "/clips/streams", {"presenter_id": "local-astronaut", "output_resolution": 128}
    )
    assert status == 201, created
    stream = created["id"]
    os.kill(health["processes"]["media"]["pid"], signal.SIGKILL)
    wait_for(
        lambda: (
            (h := engine.health())
            and h["processes"]["media"]["ready"]
            and h["processes"]["media"]["restarts"] == 1
        ),
        STARTUP_S,
        "the media process to come back",
    )
    status, body = engine.request(
        "POST",
        f"/clips/streams/{stream}",
        {"session_id": created["session_id"], "script": {"type": "text", "input": "Hello"}},
    )
    assert status == 410
    assert body["kind"] == "NotFoundError" and stream in body["description"]
    # The new media process serves new streams.
    status, again = engine.request(
        "POST", "/clips/streams", {"presenter_id": "local-astronaut", "output_resolution": 128}
    )
    assert status == 201 and again["id"] != stream


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_no_child_outlives_the_parent(start_engine, how):
    engine = start_engine("")
    health = engine.ready()
    kids = [p["pid"] for p in health["processes"].values()]
    assert kids and all(map(alive, kids))
    assert list(engine.tmp.glob("lp-engine-*/*.sock"))
    engine.process.send_signal(how)
    engine.process.wait(60)
    wait_for(lambda: not any(map(alive, kids)), 30, "the children to exit")
    # Their sockets' directory is gone too, even when the parent could not clean up.
    wait_for(lambda: not list(engine.tmp.glob("lp-engine-*")), 10, "the sockets to be removed")
    # A stop is quiet: no child dies in its interpreter's shutdown (a thread held stdin's lock).
    assert "Fatal Python error" not in engine.log.read_text(errors="replace")


def test_openai_speech_comes_from_the_media_process_through_the_public_port(start_engine):
    """LiveAvatar LITE mode's default voice: our speech client against the real engine."""
    engine = start_engine("")  # the media process alone: the Piper voice lives there
    engine.ready()
    request = urllib.request.Request(
        engine.url + "/openai/v1/audio/speech",
        data=json.dumps({"model": "tts-1", "input": "Hello there.", "voice": "alloy",
                         "response_format": "pcm"}).encode(),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json",
                 "Origin": "http://localhost:3000"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.headers["Content-Type"] == "audio/pcm"
        assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
        direct = np.frombuffer(response.read(), "<i2")
    assert 0.4 < len(direct) / 24_000 < 4.0 and np.abs(direct).max() > 3000

    async def speak() -> bytes:
        speech = OpenAISpeech(f"{engine.url}/openai/v1", KEY, "tts-1", "alloy",
                              retry=RetryPolicy(attempts=1))
        try:
            return await speech("The engine speaks for the avatar.")
        finally:
            await speech.aclose()

    samples = np.frombuffer(asyncio.run(speak()), "<i2")
    assert 1.0 < len(samples) / 24_000 < 6.0 and np.abs(samples).max() > 3000
