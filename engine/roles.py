"""The engine's processes and which requests each serves (pure: no sockets, no processes).

The engine runs as a parent that owns the public port and three children, one per role, so that
speech recognition, the LLM and the media (TTS, rendering, VP8, WebRTC) each have their own
interpreter, GIL and fixed thread count and none can starve another:

- ``stt``   Deepgram's live API (``/v1/listen``), https://developers.deepgram.com/reference/speech-to-text/listen-streaming
- ``llm``   Groq's OpenAI-compatible API (``/openai/v1/...``), https://console.groq.com/docs/api-reference
- ``media`` D-ID streams (``/talks``, ``/clips``, ``/agents``, ``/streams``), https://docs.d-id.com/reference/overview-3,
  and D-ID's agents and knowledge (``/agents``, ``/knowledge``), https://docs.d-id.com/reference/agents-overview;
  D-ID's voice and presenter lists (``/tts/voices``, ``/clips/presenters``); OpenAI's speech
  (``/openai/v1/audio/speech``, the Piper voice lives here),
  https://platform.openai.com/docs/api-reference/audio/createSpeech

When a child is down the parent answers in the vendor's own error shape, so the product's
clients (written for the real services) explain it the way they explain the vendor's errors.
"""

from __future__ import annotations

import os
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass

STT, LLM, MEDIA = "stt", "llm", "media"
ROLES = (STT, LLM, MEDIA)
# The engine module each role serves (the media role serves did_streams, always mounted).
MODULE_OF_ROLE = {STT: "deepgram_listen", LLM: "groq_chat", MEDIA: "did_streams"}

# A media child's instance tag: stream ids carry it ("strm_" + tag + token), so the parent can
# tell a stream of a media process that has died from one it never heard of.
INSTANCE_CHARS = string.ascii_lowercase + string.digits
INSTANCE_LEN = 6
STREAM_PREFIX = "strm_"
_STREAM_IN_PATH = re.compile(r"^/(?:talks|clips|agents/[^/]+)/streams/(strm_[^/]+)")


def role_of(path: str) -> str | None:
    """The role that serves a request path; None for the parent's own or unknown paths."""
    if path == "/v1/listen" or path.startswith("/v1/listen/"):
        return STT
    if path.startswith("/openai/v1/audio/"):  # speech: Piper is in the media process
        return MEDIA
    if path.startswith("/openai/"):
        return LLM
    if path.startswith(("/talks/", "/clips/", "/agents/", "/knowledge/", "/tts/")) or path in (
        "/talks/streams",
        "/clips/streams",
        "/streams",
        "/agents",
        "/knowledge",
    ):
        return MEDIA
    return None


def new_instance() -> str:
    return "".join(secrets.choice(INSTANCE_CHARS) for _ in range(INSTANCE_LEN))


def stream_id(instance: str | None) -> str:
    """A D-ID-looking stream id, tagged with the media process that serves it."""
    return f"{STREAM_PREFIX}{instance or ''}{secrets.token_urlsafe(16)}"


def stream_in_path(path: str) -> str | None:
    """The id of the stream a request path addresses, if it addresses one."""
    match = _STREAM_IN_PATH.match(path)
    return match.group(1) if match else None


def instance_of(stream: str) -> str | None:
    """The media instance tag a stream id carries."""
    tag = stream[len(STREAM_PREFIX) : len(STREAM_PREFIX) + INSTANCE_LEN]
    return tag if len(tag) == INSTANCE_LEN else None


def default_threads(cpus: int | None = None) -> int:
    """Threads per child: a third of the cores (at least one), so the three fit side by side."""
    cpus = cpus or os.cpu_count() or 1
    return max(1, round(cpus / 3))


# Niceness added to each child unless `ENGINE_{ROLE}_NICE` says otherwise: none by default. The
# LLM used to run at 10 so that the media's TTS came first, but until its first clause is out the
# LLM is what the user waits for, and at 10 it lost the CPU to the recogniser then (spoken first
# token p50 995 ms against 777 at 0, 5 + 5 turns each, 02:22-02:27). The media now claims the
# CPU while it synthesises speech nobody hears yet, and the LLM pauses for it (media_claim.py).
DEFAULT_NICE: dict[str, int] = {}


def thread_env(threads: int) -> dict[str, str]:
    """Environment that fixes the thread pools of the numeric libraries before they load."""
    value = str(threads)
    return {
        "ENGINE_THREADS": value,  # read by llm.py (llama n_threads), transcriber.py, tts.py
        "OMP_NUM_THREADS": value,  # llama.cpp's ggml (OpenMP), ctranslate2, OpenCV builds
        "OPENBLAS_NUM_THREADS": value,  # numpy / scipy
        "MKL_NUM_THREADS": value,
        "NUMEXPR_NUM_THREADS": value,
    }


# glibc gives each thread that allocates its own malloc arena (up to 8 per core); the media
# process's TTS, renderer and encoder threads each fragmented theirs, so its RSS rose by steps
# over a session while the Python heap stayed flat (scripts/media_memory_probe.py: +196 MB over
# 34 talks and still rising; with 2 arenas +108 MB, flat from the 12th talk on).
ALLOCATOR_ENV = {"MALLOC_ARENA_MAX": "2"}


def child_env(threads: int, environ: Mapping[str, str]) -> dict[str, str]:
    """A child's environment: the allocator's bound (unless the operator set their own), the
    parent's environment, then the fixed thread pools."""
    return {**ALLOCATOR_ENV, **environ, **thread_env(threads)}


@dataclass(frozen=True)
class VendorError:
    status: int
    body: dict
    headers: dict


def unavailable(role: str, reason: str, request_id: str = "", *, path: str = "") -> VendorError:
    """A 503 in the shape of the vendor whose API the role (or, for the media's OpenAI speech,
    the path) imitates."""
    if role == STT:  # Deepgram: {err_code, err_msg, request_id} and the dg-error header
        return VendorError(
            503,
            {"err_code": "SERVICE_UNAVAILABLE", "err_msg": reason, "request_id": request_id},
            {"dg-error": reason, "dg-request-id": request_id}
            if request_id
            else {"dg-error": reason},
        )
    if role == LLM or path.startswith("/openai/"):  # Groq, OpenAI: {"error": {message, ...}}
        return VendorError(
            503,
            {"error": {"message": reason, "type": "server_error", "code": "service_unavailable"}},
            {},
        )
    return VendorError(503, {"kind": "ServiceUnavailableError", "description": reason}, {})


def stream_lost(stream: str) -> VendorError:
    """D-ID's answer for a stream whose media process died: gone, like a stream it closed."""
    return VendorError(
        410,
        {
            "kind": "NotFoundError",
            "description": f"stream {stream} ended: the engine's media process stopped",
        },
        {},
    )
