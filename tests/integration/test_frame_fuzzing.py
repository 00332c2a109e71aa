"""Property-based fuzzing of the live socket: text and binary frames that hypothesis makes up,
through the real consumer (WebsocketCommunicator, the real Redis channel layer, the vendors faked
at the wire). Whatever arrives: no abnormal close, each bad frame answered with a specific error
code, and the session still works afterwards (a ping gets its pong, a question its reply).

Runs on whichever database the suite runs on (SQLite by default, PostgreSQL with DATABASE_URL).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from conversations.models import Conversation
from streaming import quota_store

from .fakes import FakeDeepgram

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(900)]

EXAMPLES = 150  # sessions
FRAMES = (70, 100)  # frames per session: about 12,500 frames per run
TYPES = ["rtc.answer", "rtc.ice", "chat.text", "avatar.interrupt", "avatar.event", "mic.state",
         "ping", "session.end"]
PROTOCOL_CODES = {"bad_json", "bad_message", "missing_field", "unknown_type", "invalid_field",
                  "invalid_text", "too_large", "too_deep", "bad_number", "empty_text", "bad_sdp",
                  "bad_ice", "bad_audio", "no_stream", "chat_rate_limited"}

# Any character, lone surrogates and NUL included (a JSON "\ud800" escape gives one).
any_text = st.text(st.characters(codec=None, categories=None), max_size=40)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | any_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(any_text, inner, max_size=4),
    max_leaves=12,
)
# Frames that look like ours: a known type with made-up fields.
our_frames = st.builds(
    lambda kind, fields: {"type": kind, **fields},
    st.sampled_from(TYPES),
    st.dictionaries(
        st.sampled_from(["text", "sdp", "candidate", "sdpMid", "sdpMLineIndex", "event", "on",
                         "t", "reason"]) | any_text,
        json_values | st.sampled_from(["stream/started", "stream/done", "v=0\r\nm=audio",
                                       "candidate:1 1 udp 1 203.0.113.7 3478 typ host"]),
        max_size=4,
    ),
).filter(lambda frame: frame.get("type") != "session.end" or "reason" in frame)


def nested(depth: int, opener: str, closer: str, inner: str = "1") -> str:
    return opener * depth + inner + closer * depth


CRAFTED = [
    nested(50_000, "[", "]", ""),
    nested(12_000, '{"a":', "}"),
    '{"type": "ping", "t": ' + nested(20_000, "[", "]", "") + "}",
    '{"type": "chat.text", "text": "\\ud800"}',
    '{"type": "chat.text", "text": "a\\udfffb\\u0000"}',
    '{"type": "ping", "t": NaN}',
    '{"type": "ping", "t": Infinity}',
    '{"type": "ping", "t": 1e99999}',
    '{"type": "ping", "t": ' + "7" * 4400 + "}",
    '{"type": "rtc.ice", "candidate": "candidate:\\ud83d", "sdpMid": "0"}',
    "\ud800",
    "x" * (65 * 1024),
]
text_frames = st.one_of(
    our_frames.flatmap(lambda frame: st.sampled_from([
        json.dumps(frame), json.dumps(frame, ensure_ascii=False),
    ])),
    st.builds(json.dumps, json_values),
    any_text,
    st.sampled_from(CRAFTED),
)
binary_frames = st.one_of(
    st.binary(max_size=64),
    st.integers(1, 40).map(lambda n: b"\x00\x01" * n),  # valid PCM16
    st.sampled_from([b"", b"\x01", b"\x00" * (64 * 1024 + 2)]),
)
frames = st.one_of(text_frames.map(lambda text: ("text", text)),
                   binary_frames.map(lambda data: ("bytes", data)))


def certainly_bad(kind: str, frame) -> bool:
    """An oracle apart from the code under test: frames nothing could accept."""
    if kind == "bytes":
        return not frame or len(frame) % 2 == 1 or len(frame) > 64 * 1024
    if len(frame.encode("utf-8", "surrogatepass")) > 64 * 1024:
        return True
    try:
        payload = json.loads(frame, parse_constant=lambda name: math.nan)
    except (ValueError, RecursionError):
        return True
    if not isinstance(payload, dict) or payload.get("type") not in TYPES:
        return True
    values = [v for v in payload.values() if isinstance(v, float)]
    if any(math.isnan(v) or math.isinf(v) for v in values):
        return True
    text = payload.get("text")  # a field that is read, and kept: it must be storable text
    return (payload["type"] == "chat.text" and isinstance(text, str)
            and ("\x00" in text or _has_surrogate(text)))


def _has_surrogate(text: str) -> bool:
    return any(0xD800 <= ord(c) <= 0xDFFF for c in text)


class Loop:
    """One event loop for the whole run, in a thread: hypothesis drives examples from the
    test's (sync) thread, and per-loop clients (Redis, the channel layer) stay put."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


async def next_pong(session, t: int) -> list[dict]:
    """Everything the consumer sent up to the pong for `t`."""
    seen = []
    while True:
        out = await session.ws.receive_output(timeout=20)
        assert out["type"] != "websocket.close", f"closed with {out.get('code')} after {seen}"
        message = json.loads(out["text"])
        if message["type"] == "pong" and message["t"] == t:
            return seen
        seen.append(message)


def test_the_consumer_survives_every_frame_and_stays_usable(
    settings, vendors, fake_did, fake_groq, celery_worker, open_session, alice, avatar
):
    # Every well-formed chat.text is refused (no LLM call): one typed turn a minute, spent on
    # each session's start. The other per-user quotas are off (0): thousands of frames a run.
    settings.CHAT_MESSAGES_PER_MINUTE = 1
    settings.VOICE_TURNS_PER_MINUTE = 0
    settings.SIGNALING_FRAMES_PER_MINUTE = 0
    settings.AUDIO_SECONDS_PER_DAY = 0
    settings.DISCONNECT_GRACE_SECONDS = 0
    settings.MAX_LIVE_SESSIONS_PER_USER = 1_000_000  # hypothesis replays failing examples
    consumer_log = logging.getLogger("streaming.consumers")
    consumer_log.setLevel(logging.WARNING)  # a line per refusal slows the run down
    loop = Loop()
    deepgram = FakeDeepgram([])
    loop.run(deepgram.__aenter__())
    settings.DEEPGRAM_URL = deepgram.url
    totals = {"frames": 0, "bad": 0, "sessions": 0}

    async def one_session(batch) -> None:
        conversation = await Conversation.objects.acreate(user=alice, avatar=avatar)
        session = await open_session(conversation, alice)
        await quota_store.spend(alice.pk, "chat_turns")
        try:
            await fuzz_session(session, batch)
        finally:
            await session.ws.disconnect()  # ends it (no grace period): nothing left open

    async def fuzz_session(session, batch) -> None:
        for n, (kind, frame) in enumerate(batch):
            # As the ASGI server hands a frame over (empty ones too, which send_to refuses).
            await session.ws.send_input({"type": "websocket.receive",
                                         "bytes" if kind == "bytes" else "text": frame})
            if certainly_bad(kind, frame):
                # Refused at once, with nothing else said: the next message is its error.
                totals["bad"] += 1
                answers = [await session.ws.receive_json_from(timeout=20)]
                assert answers[0]["type"] == "error", (kind, frame[:80], answers)
            else:  # may be taken silently: a ping after it shows all it caused
                await session.send(type="ping", t=n)
                answers = await next_pong(session, n)
            for answer in answers:
                if answer["type"] == "error":
                    assert answer["code"] in PROTOCOL_CODES, (frame[:80], answer)
                    assert answer["message"] and "Traceback" not in answer["message"]
        totals["frames"] += len(batch)
        totals["sessions"] += 1
        await session.send(type="ping", t=-1)  # the session still answers
        await next_pong(session, -1)
        if totals["sessions"] % 40 == 1:  # and a question still gets its answer
            await quota_store.reset(alice.pk, "chat_turns")
            await session.send(type="chat.text", text="Still there?")
            await session.expect("reply.done", within=30)
            await quota_store.spend(alice.pk, "chat_turns")
        await session.send(type="session.end")
        assert (await session.expect("session.ended"))["reason"] == "user"
        closed = await session.ws.receive_output(timeout=10)
        assert closed["type"] == "websocket.close" and closed.get("code") == 1000

    @given(batch=st.lists(frames, min_size=FRAMES[0], max_size=FRAMES[1]))
    @hypothesis_settings(max_examples=EXAMPLES, deadline=None,
                         suppress_health_check=list(HealthCheck))
    def fuzz(batch):
        loop.run(one_session(batch))

    try:
        fuzz()
    finally:
        consumer_log.setLevel(logging.NOTSET)
        loop.run(deepgram.__aexit__(None, None, None))
        loop.stop()
    assert totals["frames"] >= 10_000, totals
    assert fake_did.open_streams() == set()
    print(f"fuzzed {totals['frames']} frames ({totals['bad']} certainly bad) "
          f"in {totals['sessions']} sessions")
