"""What benchmarks add to the launcher: a stack set up for measuring, a user and an avatar in
its database, and CPU accounting of its processes from /proc.

    with bench_stack(NAME, ("web", "worker"), env=stub.provider_env()) as stack:
        user, avatar = bench_avatar()          # this process's ORM is on the stack's database
        cookie = session_cookie(user)
        with CpuSampler({"web": stack.pid("web")}) as cpu: ...
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from avatars.demo import DEMO_AVATAR
from launcher import Stack
from launcher.processes import descendants
from launcher.stack import ARTIFACTS

# Questions a person might ask the astronaut (spoken by Piper for the voice turns).
QUESTIONS = [
    "What is it like to float in space?",
    "How long did your training take?",
    "What did you eat on the space station?",
    "Can you see the stars from orbit?",
    "What was the hardest part of the mission?",
    "Did you ever feel afraid up there?",
    "What do you miss most about flying?",
]

# Quiet processes (logging costs CPU the measurements would include), and one benchmark user
# may hold many live sessions and send many messages; the other per-user quotas are off (0).
BENCH_ENV = {
    "LOG_LEVEL": "WARNING",
    "MAX_LIVE_SESSIONS_PER_USER": "100000",
    "CHAT_MESSAGES_PER_MINUTE": "100000",
    "VOICE_TURNS_PER_MINUTE": "0",
    "SIGNALING_FRAMES_PER_MINUTE": "0",
    "AUDIO_SECONDS_PER_DAY": "0",
    "LLM_TOKENS_PER_DAY": "0",
}
# The engine serving D-ID streams alone (no recogniser, no LLM), for many streams at once.
ENGINE_ALONE = {"ENGINE_MODULES": "", "ENGINE_MAX_STREAMS": "32"}
# The workers as the Procfile runs them, minus the start-up chatter with other workers.
WORKER_ARGS = ["--loglevel", "WARNING", "--without-gossip", "--without-mingle"]


@contextlib.contextmanager
def bench_stack(name: str, processes: Iterable[str], *, env: dict[str, str] | None = None,
                args: dict[str, list[str]] | None = None) -> Iterator[Stack]:
    """An isolated stack of some of the Procfile's processes (logs in
    test-artifacts/stacks/bench-<name>/); unless it is the engine alone, Django is set up in
    this process too, on the stack's database, so that benchmarks create rows with the ORM."""
    processes = tuple(processes)
    needs_database = any(p != "engine" for p in processes)
    stack = Stack(
        name=f"bench-{name}", processes=processes, env={**BENCH_ENV, **(env or {})},
        args={"worker": WORKER_ARGS, "replies": WORKER_ARGS, **(args or {})},
        log_dir=ARTIFACTS / f"bench-{name}",
        migrate=needs_database, bootstrap=needs_database,
        private_redis=True,  # nobody else's traffic on the Redis being measured through
    )
    with stack:
        if needs_database:
            stack.use_django()
        try:
            yield stack
        finally:
            if needs_database:
                from django.db import connections  # set up above; let the database be dropped

                connections.close_all()


def session_cookie(user) -> str:
    """A logged-in `sessionid` cookie for `user` (what the browser would carry)."""
    from django.test import Client  # Django is set up by bench_stack() first

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def bench_avatar():
    """A user of the benchmark's own and the demo avatar (the astronaut, D-ID Talks at 512 px)
    that `manage.py bootstrap` made in the stack's database."""
    # Django is set up by bench_stack(): models can only be imported after that.
    from django.contrib.auth import get_user_model

    from avatars.models import Avatar

    user, _ = get_user_model().objects.get_or_create(username="bench")
    return user, Avatar.objects.get(slug=DEMO_AVATAR)


def new_conversation(user, avatar):
    from conversations.models import Conversation  # after Django is set up (bench_stack)

    return Conversation.objects.create(user=user, avatar=avatar, provider=avatar.provider)


def message_marks(stack, ids: list[int]) -> dict[int, dict]:
    """The hop marks saved on the Message rows (read through the stack's own manage.py)."""
    code = (
        "import json\nfrom conversations.models import Message\n"
        f"rows = Message.objects.filter(pk__in={ids!r})\n"
        "fields = ['speech_end_at', 'speculative_final_at', 'transcript_final_at', 'task_started_at', 'first_token_at',"
        " 'first_sentence_sent_at', 'avatar_started_at', 'completed_at']\n"
        "print(json.dumps({m.pk: {f: (getattr(m, f).timestamp() if getattr(m, f) else None)"
        " for f in fields} | {'text': m.text} for m in rows}))"
    )
    return {int(k): v for k, v in json.loads(stack.shell(code).splitlines()[-1]).items()}


class CpuSampler:
    """CPU seconds of some processes and their live children (the engine's speech, LLM and
    media processes count as the engine), sampled every 0.25 s with the wall time."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.samples: list[tuple[float, dict[str, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CpuSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(2)

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), {k: tree_cpu_seconds(p) for k, p in list(self.pids.items())}))
            if self._stop.wait(0.25):
                return

    def percent(self, start: float, end: float) -> dict[str, float | None]:
        inside = [s for s in self.samples if start <= s[0] <= end]
        if len(inside) < 2:
            return {k: None for k in self.pids}
        (t0, a), (t1, b) = inside[0], inside[-1]
        return {k: round(100 * (b[k] - a[k]) / (t1 - t0), 1) for k in self.pids}


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its live descendants (e.g. Celery's prefork children)."""
    total = 0.0
    for child in [pid, *descendants(pid)]:
        with contextlib.suppress(OSError, IndexError, ValueError):
            total += cpu_seconds(child)
    return total


