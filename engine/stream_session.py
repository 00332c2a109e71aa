"""One D-ID-style stream: an aiortc peer that *offers* audio, video and a data channel.

D-ID's server is the offerer: it creates the stream, sends an SDP offer, and the client answers.
We play the same role, which is also the only role in which aiortc honours codec preferences
(it ignores them on the answering side), so `compatibility_mode` can pick VP8 or H264 here.

The session owns its peer connection, the avatar player feeding its tracks, a queue of talks
spoken strictly in order, the data channel events D-ID sends (`stream/started`, `stream/done`,
`stream/ready`, `stream/error`, written as ``"<event>:<json>"``) and its idle timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
)

from . import memory_trim
from .stream_channels import EventChannels
from .stream_errors import AnswerRejected, CandidateRejected, NotAnswered, StreamClosed
from .stream_rtc import codec_preferences, ice_server, parse_candidate

log = logging.getLogger(__name__)

# The label D-ID's demos and SDK give the data channel they open on their side.
DATA_CHANNEL_LABEL = "JanusDataChannel"
VIDEO_CODECS = {"VP8": "video/VP8", "H264": "video/H264"}


class Player(Protocol):
    """The part of `engine.player.AvatarPlayer` a stream uses.

    `say_*` queue and return at once; `on_event(name, payload)` reports "stream/started" and
    "stream/done" (payload with the `talk_id` given to `say_*`) as the audio track plays them.
    """

    video: MediaStreamTrack
    audio: MediaStreamTrack
    is_speaking: bool
    on_event: Callable[[str, dict], None] | None

    async def say_text(
        self, text: str, *, talk_id: str | None = None, received_at: float | None = None
    ) -> str: ...

    async def say_audio(
        self,
        pcm: np.ndarray,
        sample_rate: int,
        *,
        talk_id: str | None = None,
        received_at: float | None = None,
    ) -> str: ...

    def interrupt(self) -> Any: ...

    async def warm_up(self) -> Any: ...

    def stop(self) -> Any: ...


class StreamState(StrEnum):
    OFFERED = "offered"  # the offer is out; waiting for the client's SDP answer
    ANSWERED = "answered"  # answer applied; ICE and DTLS under way
    CONNECTED = "connected"
    CLOSED = "closed"


@dataclass(frozen=True)
class StreamOptions:
    video_codec: str = "VP8"
    stream_warmup: bool = False
    session_timeout: float = 300.0
    output_resolution: int = 512


@dataclass(frozen=True)
class Talk:
    """One thing to say: text for the TTS, or decoded mono PCM (float32 or int16)."""

    video_id: str
    text: str | None = None
    pcm: np.ndarray | None = None
    sample_rate: int = 0
    received_at: float | None = None  # time.monotonic() of the POST, for the talk's trace


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")


class StreamSession:
    """A live stream from creation (offer) to close (DELETE, idle timeout or peer failure)."""

    def __init__(
        self,
        *,
        stream_id: str,
        kind: str,
        session_id: str,
        player: Player,
        options: StreamOptions,
        ice_servers: Iterable[dict] = (),
        on_closed: Callable[[StreamSession], Any] | None = None,
        owner: str | None = None,
    ) -> None:
        self.id = stream_id
        self.kind = kind
        self.session_id = session_id
        self.owner = owner  # e.g. the agent id of an agents stream
        self.player = player
        self.options = options
        self.state = StreamState.OFFERED
        self.close_reason: str | None = None
        self.created_at = time.time()
        self.last_activity = self.created_at
        self._last_activity_clock = time.monotonic()
        self._on_closed = on_closed
        self._loop = asyncio.get_running_loop()
        self._pc = RTCPeerConnection(
            RTCConfiguration(iceServers=[ice_server(s) for s in ice_servers])
        )
        self._channels = EventChannels(self._loop, self._on_client_message)
        self._pending_candidates: list = []
        self._tasks: set[asyncio.Task] = set()
        self._connected = asyncio.Event()
        self._closing: asyncio.Task | None = None
        self.talks_done = 0
        player.on_event = self._on_player_event

    # -- signalling ---------------------------------------------------------------------------

    async def create_offer(self) -> RTCSessionDescription:
        """Add the tracks and the data channel, set codec preferences, and make the offer."""
        pc = self._pc
        audio = pc.addTransceiver(self.player.audio, direction="sendonly")
        video = pc.addTransceiver(self.player.video, direction="sendonly")
        # Must happen before createOffer: only the offer's codec list binds the browser.
        audio.setCodecPreferences(codec_preferences("audio", "audio/opus"))
        video.setCodecPreferences(
            codec_preferences("video", VIDEO_CODECS[self.options.video_codec])
        )
        if self.options.video_codec == "VP8" and hasattr(self.player, "replay_idle"):
            self.player.replay_idle(video.sender)  # idle frames pre-encoded, once per face
        self._channels.own(pc.createDataChannel(DATA_CHANNEL_LABEL))
        pc.on("datachannel", self._channels.peer)
        pc.on("connectionstatechange", self._on_connection_state)
        await pc.setLocalDescription(await pc.createOffer())
        self._spawn(self._close_when_idle(), "idle-timeout")
        return pc.localDescription

    async def accept_answer(self, sdp: str) -> None:
        if self.state is StreamState.CLOSED:
            raise StreamClosed("the stream is closed")
        if self.state is not StreamState.OFFERED:
            raise AnswerRejected("the SDP answer was already set for this stream")
        if not sdp.lstrip().startswith("v=0") or "\nm=" not in sdp.replace("\r\n", "\n"):
            raise AnswerRejected("answer.sdp is not an SDP session description (v=0 ... m=...)")
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except Exception as exc:  # aiortc raises many types for a bad description
            if self.state is StreamState.CLOSED:
                raise StreamClosed("the stream is closed") from exc
            log.info("stream %s: SDP answer rejected: %r", self.id, exc)
            raise AnswerRejected("the SDP answer does not fit the offer") from exc
        self.state = StreamState.ANSWERED
        self.touch()
        self._spawn(self._announce_ready(), "ready")
        pending, self._pending_candidates = self._pending_candidates, []
        for candidate in pending:
            with contextlib.suppress(CandidateRejected):  # already answered with 200
                await self._add_candidate(candidate)

    async def add_ice_candidate(
        self, candidate: str | None, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """Add a trickled remote candidate; no candidate means end-of-candidates."""
        if self.state is StreamState.CLOSED:
            raise StreamClosed("the stream is closed")
        parsed = parse_candidate(candidate, sdp_mid, sdp_mline_index) if candidate else None
        self.touch()
        if self.state is StreamState.OFFERED:
            # Agents clients trickle ICE in parallel with the answer: keep them until it lands.
            self._pending_candidates.append(parsed)
            return
        await self._add_candidate(parsed)

    async def _add_candidate(self, candidate) -> None:
        try:
            await self._pc.addIceCandidate(candidate)
        except Exception as exc:  # e.g. an address aioice cannot use
            log.info("stream %s: candidate refused: %r", self.id, exc)
            raise CandidateRejected("the ICE candidate was refused") from exc

    # -- talking ------------------------------------------------------------------------------

    async def say(self, talk: Talk) -> None:
        """Queue a talk behind the ones already queued (the player speaks them in order)."""
        if self.state is StreamState.CLOSED:
            raise StreamClosed("the stream is closed")
        if self.state is StreamState.OFFERED:
            raise NotAnswered("the stream has no SDP answer yet")
        self.touch()
        try:
            when = talk.received_at
            if talk.text is not None:
                await self.player.say_text(talk.text, talk_id=talk.video_id, received_at=when)
            else:
                await self.player.say_audio(
                    talk.pcm, talk.sample_rate, talk_id=talk.video_id, received_at=when
                )
        except RuntimeError as exc:  # the player stopped under us: the stream is closing
            raise StreamClosed(str(exc)) from exc
        except Exception:
            self.send_event(
                "stream/error", {"talk_id": talk.video_id, "description": "the talk failed"}
            )
            raise

    def interrupt(self) -> None:
        """Drop queued talks and cut the current one short (barge-in)."""
        self.player.interrupt()
        self.touch()

    @property
    def is_busy(self) -> bool:
        return bool(getattr(self.player, "is_speaking", False))

    # -- data channel -------------------------------------------------------------------------

    def send_event(self, event: str, payload: dict | None = None) -> None:
        """Send ``"<event>:<json>"`` the way D-ID does; queued until a channel is open.

        A talk's events carry its video id where D-ID's SDK reads it (``metadata.videoId``).
        """
        body: dict[str, Any] = dict(payload or {})
        video_id = body.pop("talk_id", None)
        if video_id is not None:
            body = {"video_id": video_id, "metadata": {"videoId": video_id}, **body}
        self._channels.deliver(f"{event}:{json.dumps(body, separators=(',', ':'))}")

    def send_message(self, message: str) -> None:
        """Send a raw data-channel message (e.g. agents' ``chat/answer:<uri-encoded text>``)."""
        self._channels.deliver(message)

    def _on_player_event(self, name: str, payload: dict | None = None) -> None:
        """The player's `on_event`, called on the event loop as the audio track plays."""
        if self.state is StreamState.CLOSED:
            return
        self.touch()
        if name == "stream/done":
            self.talks_done += 1
            memory_trim.trim_soon()  # the talk's buffers are free: return them (memory_trim.py)
        self.send_event(name, payload if isinstance(payload, dict) else None)

    def _on_client_message(self, message: str | bytes) -> None:
        text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
        if "stream/interrupt" in text:  # what D-ID's SDK sends to cut a fluent stream short
            self.interrupt()

    async def _announce_ready(self) -> None:
        await self._connected.wait()
        if self.options.stream_warmup:
            await self.player.warm_up()
        ready = "stream/ready:" + json.dumps(
            {"stream_id": self.id, "warmup": self.options.stream_warmup}, separators=(",", ":")
        )
        self._channels.deliver(ready, ready=True)

    # -- life and death -----------------------------------------------------------------------

    def touch(self) -> None:
        self.last_activity = time.time()
        self._last_activity_clock = time.monotonic()

    async def _on_connection_state(self) -> None:
        state = self._pc.connectionState
        log.info("stream %s: peer connection %s", self.id, state)
        if state == "connected" and self.state is StreamState.ANSWERED:
            self.state = StreamState.CONNECTED
            self._connected.set()
        elif state in ("failed", "closed") and self.state is not StreamState.CLOSED:
            self._spawn(self.close(f"peer connection {state}"), "close")

    async def _close_when_idle(self) -> None:
        timeout = self.options.session_timeout
        step = max(0.05, min(1.0, timeout / 5))
        while self.state is not StreamState.CLOSED:
            await asyncio.sleep(step)
            if self.is_busy:
                self.touch()
            elif time.monotonic() - self._last_activity_clock >= timeout:
                await self.close("session timeout")
                return

    async def close(self, reason: str = "deleted") -> None:
        """Close the peer and free the player; safe to call more than once."""
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._close(reason))
        await asyncio.shield(self._closing)

    async def _close(self, reason: str) -> None:
        self.state = StreamState.CLOSED
        self.close_reason = reason
        log.info("stream %s closed: %s", self.id, reason)
        me = asyncio.current_task()
        for task in list(self._tasks):
            if task is not me and task is not self._closing:
                task.cancel()
        with contextlib.suppress(Exception):
            self.player.interrupt()
        with contextlib.suppress(Exception):
            result = self.player.stop()
            if asyncio.iscoroutine(result):
                await result
        with contextlib.suppress(Exception):
            await self._pc.close()
        if self._on_closed is not None:
            self._on_closed(self)

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=f"stream {self.id} {name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("stream %s: %s failed", self.id, task.get_name(), exc_info=task.exception())

    # -- reporting ----------------------------------------------------------------------------

    @property
    def connection_state(self) -> str:
        return self._pc.connectionState

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state.value,
            "connection_state": self._pc.connectionState,
            "created_at": _iso(self.created_at),
            "last_activity": _iso(self.last_activity),
            "speaking": bool(getattr(self.player, "is_speaking", False)),
            # Engine-only: idle frames are the face's pre-encoded loop, not rendered (player.py).
            "idle_replay": bool(getattr(self.player, "replays_idle", False)),
            "talks_done": self.talks_done,
            "video_codec": self.options.video_codec,
            "output_resolution": self.options.output_resolution,
            # Engine-only: the last talks' timings in ms after their POST (see player.py).
            "talks": traces() if callable(traces := getattr(self.player, "traces", None)) else [],
        }

