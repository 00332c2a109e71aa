"""A receiving WebRTC peer for the local engine's D-ID streams, playing the browser's part.

It creates a stream over the D-ID REST API, answers the engine's offer with an aiortc peer
(loopback host candidates only), decodes both tracks and keeps, per decoded frame, its RTP
presentation time and when it arrived; data-channel events (`stream/started`, ...) are kept
with their arrival time too.

RTP timestamps of the two tracks start at unrelated random offsets, so a receiver can only line
them up through the RTCP sender reports (each maps one RTP timestamp to the sender's wall clock),
exactly as a browser does for lip sync. `install_sender_report_capture()` records those reports;
`sender_time(kind, pts)` then gives the sender's wall-clock time of a frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import httpx
import numpy as np

NTP_EPOCH_OFFSET = 2208988800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
CLOCK_RATE = {"audio": 48000, "video": 90000}

_sender_reports: dict[int, list[tuple[float, int, float]]] = {}


def install_sender_report_capture() -> None:
    """Keep every RTCP sender report each receiver gets: (sender wall time, RTP ts, arrival)."""
    from aiortc.rtcrtpreceiver import RtcpSrPacket, RTCRtpReceiver

    if getattr(RTCRtpReceiver, "_bench_sr_capture", False):
        return
    original = RTCRtpReceiver._handle_rtcp_packet

    async def handle(self, packet):
        if isinstance(packet, RtcpSrPacket):
            ntp = packet.sender_info.ntp_timestamp
            seconds = (ntp >> 32) + (ntp & 0xFFFFFFFF) / 2**32 - NTP_EPOCH_OFFSET
            _sender_reports.setdefault(id(self), []).append(
                (seconds, packet.sender_info.rtp_timestamp, time.time())
            )
        await original(self, packet)

    RTCRtpReceiver._handle_rtcp_packet = handle
    RTCRtpReceiver._bench_sr_capture = True


@dataclass
class Decoded:
    """One decoded frame: RTP pts (from the track's first frame), arrival, and what we kept."""

    pts: int
    arrival: float
    data: np.ndarray | None = None


class ReceivingPeer:
    """The answering side of one WebRTC session: decodes both tracks, keeps what it is told to.

    `on_event(name, payload, arrival)` is called for every data-channel message
    ("stream/started:{json}" arrives as ("stream/started", "{json}", t)).
    """

    def __init__(self, *, keep_video: bool = False, keep_audio: bool = False,
                 crop: tuple[int, int, int, int] | None = None, on_event=None) -> None:
        self.keep_video = keep_video  # keep each frame's luma (Y plane), cropped to `crop`
        self.keep_audio = keep_audio  # keep each audio frame's samples (first channel)
        self.crop = crop
        self.on_event = on_event
        self.video: list[Decoded] = []
        self.audio: list[Decoded] = []
        self.events: list[tuple[str, str, float]] = []
        self.first_video = asyncio.Event()
        self.pc = None
        self._tasks: list[asyncio.Task] = []
        self._receivers: dict[str, object] = {}

    async def answer(self, offer_sdp: str, *, data_channel_label: str | None = None) -> str:
        """Answer an offer; returns the answer SDP (its candidates included: loopback only).

        `data_channel_label`: open a channel of our own too, as D-ID's clients (and our page)
        do when the offer carries one."""
        from aiortc import RTCPeerConnection, RTCSessionDescription

        from engine.loopback_ice import use_loopback_host_candidates

        use_loopback_host_candidates()
        self.pc = pc = RTCPeerConnection()

        @pc.on("track")
        def on_track(track) -> None:
            self._tasks.append(asyncio.create_task(self._consume(track)))

        @pc.on("datachannel")
        def on_channel(channel) -> None:
            self._watch(channel)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        if data_channel_label and "m=application" in offer_sdp:
            self._watch(pc.createDataChannel(data_channel_label))
        await pc.setLocalDescription(await pc.createAnswer())
        for receiver in pc.getReceivers():
            self._receivers[receiver.track.kind] = receiver
        return pc.localDescription.sdp

    def _watch(self, channel) -> None:
        @channel.on("message")
        def on_message(message) -> None:
            at = time.time()
            text = message if isinstance(message, str) else message.decode()
            name, _, payload = text.partition(":")
            self.events.append((name, payload, at))
            if self.on_event is not None:
                self.on_event(name, payload, at)

    async def _consume(self, track) -> None:
        from aiortc.mediastreams import MediaStreamError

        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            at = time.time()
            if track.kind == "video":
                data = None
                if self.keep_video:
                    luma = frame.to_ndarray(format="gray")
                    if self.crop is not None:
                        x0, y0, x1, y1 = self.crop
                        luma = luma[y0:y1, x0:x1]
                    data = luma.astype(np.float32)
                self.video.append(Decoded(frame.pts, at, data))
                self.first_video.set()
            else:
                data = None
                if self.keep_audio:
                    samples = frame.to_ndarray()  # packed s16: (1, samples * channels)
                    channels = len(frame.layout.channels)
                    data = samples.reshape(-1, channels)[:, 0].astype(np.int16)
                self.audio.append(Decoded(frame.pts, at, data))

    def sender_time(self, kind: str, pts: int) -> float | None:
        """The sender's wall-clock time of the frame with this pts, from its sender reports."""
        receiver = self._receivers.get(kind)
        reports = _sender_reports.get(id(receiver)) if receiver is not None else None
        if not reports:
            return None
        origin = receiver._RTCRtpReceiver__timestamp_mapper._origin
        if origin is None:
            return None
        raw = (pts + origin) % 2**32
        wall, rtp, _ = min(reports, key=lambda r: abs(_signed(raw - r[1])))
        return wall + _signed(raw - rtp) / CLOCK_RATE[kind]

    def forget_before(self, when: float) -> None:
        """Drop frames that arrived before `when` (long sessions keep memory bounded)."""
        self.video = [f for f in self.video if f.arrival >= when]
        self.audio = [f for f in self.audio if f.arrival >= when]

    async def close(self) -> None:
        if self.pc is not None:
            with contextlib.suppress(Exception):
                await self.pc.close()
        for task in self._tasks:
            task.cancel()


class EngineStream(ReceivingPeer):
    """A Talks stream of the local engine, created over its D-ID REST API and answered here."""

    def __init__(self, base_url: str, api_key: str = "local-engine-key", **options) -> None:
        super().__init__(**options)
        self.client = httpx.AsyncClient(
            base_url=base_url, timeout=60, headers={"Authorization": f"Basic {api_key}"},
        )
        self.id = ""
        self.session_id = ""
        self.timings: dict[str, float] = {}

    async def open(self, source_url: str, *, resolution: int = 512,
                   connect_timeout: float = 30) -> EngineStream:
        """Create the stream, answer it, and wait for the first decoded video frame."""
        started = time.time()
        response = await self.client.post("/talks/streams", json={
            "source_url": source_url, "output_resolution": resolution,
            "compatibility_mode": "on", "stream_warmup": False,
        })
        response.raise_for_status()
        data = response.json()
        self.id, self.session_id = data["id"], data["session_id"]
        self.timings["created"] = time.time() - started
        answer = {"type": "answer", "sdp": await self.answer(data["offer"]["sdp"])}
        (await self.client.post(f"/talks/streams/{self.id}/sdp",
                                json={"answer": answer, "session_id": self.session_id})
         ).raise_for_status()
        (await self.client.post(f"/talks/streams/{self.id}/ice",
                                json={"session_id": self.session_id})).raise_for_status()
        await asyncio.wait_for(self.first_video.wait(), connect_timeout)
        self.timings["first_video"] = time.time() - started
        return self

    async def say(self, text: str) -> float:
        """Post a talk; returns when it was posted."""
        at = time.time()
        response = await self.client.post(f"/talks/streams/{self.id}", json={
            "script": {"type": "text", "input": text}, "session_id": self.session_id,
        })
        response.raise_for_status()
        return at

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.request("DELETE", f"/talks/streams/{self.id}",
                                      json={"session_id": self.session_id})
        await super().close()
        await self.client.aclose()


def _signed(delta: int) -> int:
    """A 32-bit RTP timestamp difference as a signed number."""
    return ((delta + 2**31) % 2**32) - 2**31

