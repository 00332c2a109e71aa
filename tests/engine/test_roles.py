"""Which process serves which path, stream ids tagged with their media process, exit wording."""

from __future__ import annotations

import signal

import pytest

from engine import roles
from engine.supervisor import BACKOFF_FIRST_S, BACKOFF_MAX_S, describe_exit, next_backoff


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/v1/listen", "stt"),
        ("/openai/v1/chat/completions", "llm"),
        ("/openai/v1/models/x", "llm"),
        ("/openai/v1/audio/speech", "media"),  # the Piper voice lives in the media process
        ("/talks/streams", "media"),
        ("/talks/streams/strm_x/ice", "media"),
        ("/clips/streams", "media"),
        ("/agents/agt_1/streams/strm_x", "media"),
        ("/streams", "media"),
        ("/agents", "media"),
        ("/agents/agt_1", "media"),
        ("/agents/agt_1/chat/cht_1", "media"),
        ("/knowledge", "media"),
        ("/knowledge/knl_1/documents/doc_1", "media"),
        ("/knowledgeable", None),
        ("/tts/voices", "media"),
        ("/clips/presenters", "media"),
        ("/health", None),
        ("/", None),
        ("/v1/listening", None),
        ("/openai", None),
    ],
)
def test_role_of_path(path, role):
    assert roles.role_of(path) == role


def test_a_down_media_process_answers_openai_speech_in_openais_shape():
    speech = roles.unavailable(roles.MEDIA, "restarting", path="/openai/v1/audio/speech")
    assert speech.status == 503 and speech.body["error"]["code"] == "service_unavailable"
    talks = roles.unavailable(roles.MEDIA, "restarting", path="/talks/streams")
    assert talks.body["kind"] == "ServiceUnavailableError"


def test_stream_ids_carry_their_media_instance():
    instance = roles.new_instance()
    stream = roles.stream_id(instance)
    assert stream.startswith("strm_" + instance)
    assert roles.instance_of(stream) == instance
    for path in (
        f"/talks/streams/{stream}",
        f"/clips/streams/{stream}/sdp",
        f"/agents/agt_9/streams/{stream}/ice",
    ):
        assert roles.stream_in_path(path) == stream
    assert roles.stream_in_path("/talks/streams") is None
    assert roles.stream_in_path("/agents/agt_9/chat/cht_1") is None


def test_exits_are_described_by_code_or_signal():
    assert describe_exit(3) == "exit code 3"
    assert describe_exit(-signal.SIGKILL) == "killed by SIGKILL"
    assert describe_exit(-signal.SIGSEGV) == "killed by SIGSEGV"


def test_backoff_doubles_on_quick_deaths_and_resets_after_a_stable_life():
    delay = next_backoff(0, 0)
    assert delay == BACKOFF_FIRST_S
    for _ in range(10):
        delay = next_backoff(delay, 1.0)
    assert delay == BACKOFF_MAX_S
    assert next_backoff(delay, 3600) == BACKOFF_FIRST_S


def test_thread_settings_fix_the_numeric_pools():
    env = roles.thread_env(2)
    assert env["ENGINE_THREADS"] == env["OMP_NUM_THREADS"] == "2"
    assert roles.default_threads(2) == 1
    assert roles.default_threads(12) == 4


def test_a_child_bounds_its_malloc_arenas_unless_the_operator_chose_a_bound():
    env = roles.child_env(1, {"PATH": "/bin"})
    assert env["MALLOC_ARENA_MAX"] == "2" and env["PATH"] == "/bin"
    assert roles.child_env(1, {"MALLOC_ARENA_MAX": "8"})["MALLOC_ARENA_MAX"] == "8"
    assert roles.child_env(3, {"OMP_NUM_THREADS": "9"})["OMP_NUM_THREADS"] == "3"


def test_vendor_503_shapes():
    assert roles.unavailable("media", "x").body == {
        "kind": "ServiceUnavailableError",
        "description": "x",
    }
    assert roles.unavailable("llm", "x").body["error"]["type"] == "server_error"
    stt = roles.unavailable("stt", "x", "rid")
    assert stt.body == {"err_code": "SERVICE_UNAVAILABLE", "err_msg": "x", "request_id": "rid"}
    assert stt.headers["dg-error"] == "x"


@pytest.mark.parametrize("value", ["-5", "20", "low", "1.5"])
def test_a_niceness_the_engine_cannot_use_stops_it_with_the_variables_name(value, monkeypatch):
    from engine.config import UnsafeConfig
    from engine.supervisor import _nice_from_env

    monkeypatch.setenv("ENGINE_LLM_NICE", value)
    with pytest.raises(UnsafeConfig, match="ENGINE_LLM_NICE"):
        _nice_from_env("llm")
    monkeypatch.setenv("ENGINE_LLM_NICE", "19")
    assert _nice_from_env("llm") == 19
    monkeypatch.delenv("ENGINE_LLM_NICE")  # the defaults: none (the LLM pauses for the media
    monkeypatch.delenv("ENGINE_MEDIA_NICE", raising=False)  # instead, engine/media_claim.py)
    assert (_nice_from_env("llm"), _nice_from_env("media")) == (0, 0)
