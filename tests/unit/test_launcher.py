"""The launcher's own parts: the Procfile it reads, the process groups it stops, the console
echo of `make run`, and no child outliving it (Linux)."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from launcher import PROCESSES, procfile
from launcher.microphone import RATE, record_turns
from launcher.page_recorder import speech_ends
from launcher.processes import Child, Echo, alive, descendants, group_alive, spawn, stop

REPO = Path(__file__).resolve().parents[2]


def gone(pid: int, within: float = 10.0) -> bool:
    """True once `pid` no longer exists (a zombie awaiting its parent counts as gone)."""
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def test_the_procfile_lists_the_launchers_processes_in_order():
    assert tuple(procfile.read()) == PROCESSES


def test_procfile_lines_skip_comments_and_reject_nonsense(tmp_path):
    path = tmp_path / "Procfile"
    path.write_text("# the web\nweb: daphne -p $PORT app\n\nworker:celery worker\n")
    assert procfile.read(path) == {"web": "daphne -p $PORT app", "worker": "celery worker"}
    path.write_text("web daphne\n")
    with pytest.raises(ValueError, match="Procfile:1"):
        procfile.read(path)


def test_a_procfile_line_runs_through_the_shell_with_extra_arguments_last(tmp_path):
    argv = procfile.argv('echo "$PORT" --level INFO', ["--level", "WARNING", "it's"])
    assert argv[:2] == ["/bin/sh", "-c"] and argv[2].startswith("exec ")
    out = subprocess.run(argv, env={"PORT": "8123", "PATH": os.environ["PATH"]},
                         capture_output=True, text=True, check=True).stdout
    assert out == "8123 --level INFO --level WARNING it's\n"


def test_a_child_gets_its_own_process_group_and_its_output_in_its_log(tmp_path):
    child = spawn("talker", ["/bin/sh", "-c", "echo hello; echo oops >&2"],
                  log=tmp_path / "talker.log", env=dict(os.environ), cwd=tmp_path)
    child.popen.wait(10)
    assert os.getpgid(os.getpid()) != child.pid  # its own group, not ours
    assert child.log_text() == "hello\noops\n"


def test_stop_ends_every_process_of_the_group_even_one_that_ignores_sigterm(tmp_path):
    # A shell whose own child ignores SIGTERM (as a stuck worker might): KILL after the grace.
    script = "trap '' TERM; sleep 300 & sleep 300 & wait"
    child = spawn("stubborn", ["/bin/sh", "-c", script], log=tmp_path / "s.log",
                  env=dict(os.environ), cwd=tmp_path)
    deadline = time.monotonic() + 5
    while len(descendants(child.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    below = descendants(child.pid)
    assert len(below) == 2
    stop([child], grace=1.0)
    assert not child.alive()
    assert all(gone(pid) for pid in below)
    assert not group_alive(child.pid)


def test_no_child_outlives_a_launcher_killed_with_sigkill(tmp_path):
    code = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from launcher.processes import spawn\n"
        f"child = spawn('sleeper', ['sleep', '300'], log=Path({str(tmp_path)!r}) / 's.log',"
        " env=dict(os.environ), cwd=Path('.'))\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    child_pid = None
    try:
        child_pid = int(parent.stdout.readline())
        assert not gone(child_pid, within=0.2)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        assert gone(child_pid), "the child outlived its launcher"
    finally:
        parent.kill()
        parent.wait(10)
        if child_pid is not None and not gone(child_pid, within=0):
            os.kill(child_pid, signal.SIGKILL)  # an orphan of a failed run: not left behind


def test_echo_prefixes_whole_lines_with_the_process_name(tmp_path):
    logs = {name: tmp_path / f"{name}.log" for name in ("web", "worker")}
    logs["web"].write_text("listening\nhalf a li")
    logs["worker"].write_text("ready.\n")
    children = {name: Child(name, [], path, popen=None) for name, path in logs.items()}
    out = io.StringIO()
    echo = Echo(children, out=out, every=60)
    echo._copy()
    assert out.getvalue() == "web    | listening\nworker | ready.\n"
    with logs["web"].open("a") as log:
        log.write("ne\n")
    echo._copy()
    assert out.getvalue().endswith("worker | ready.\nweb    | half a line\n")


def test_speech_ends_where_the_microphone_stays_quiet_not_between_words():
    events = [{"t": 0, "event": "open"}, {"t": 100, "event": "loud"}, {"t": 400, "event": "quiet"},
              {"t": 500, "event": "loud"}, {"t": 900, "event": "quiet"},  # a word gap, then end
              {"t": 5000, "event": "loud"}, {"t": 5600, "event": "quiet"}]
    assert speech_ends(events, now=5900) == [900]  # the last pause is only 300 ms old
    assert speech_ends(events, now=6300) == [900, 5600]


class FakeSpeaker:
    """Speaks every text as one second of a 440 Hz tone with 0.1 s of silence either side."""

    def synthesize(self, text):
        return self

    def resampled(self, rate):
        tone = (8000 * np.sin(np.arange(rate) * 2 * np.pi * 440 / rate)).astype(np.int16)
        silence = np.zeros(rate // 10, np.int16)
        return SimpleNamespace(pcm=np.concatenate([silence, tone, silence]))


def test_a_recorded_wav_says_where_each_utterance_starts_and_ends(tmp_path):
    found = record_turns(tmp_path / "q.wav", ["one", "two"], FakeSpeaker(), leading=0.5,
                         every=3.0, trailing=1.0)
    assert [(r.text, round(r.speech_start, 2), round(r.speech_end, 2)) for r in found] == [
        ("one", 0.6, 1.6), ("two", 3.6, 4.6)]
    with wave.open(str(tmp_path / "q.wav")) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (RATE, 1, 2)
        assert wav.getnframes() == int((3.5 + 1.2 + 1.0) * RATE)
