"""aiortc helpers for a stream: codec preferences, ICE candidates, ICE servers, keyframes."""

from __future__ import annotations

from collections.abc import Callable

from aiortc import RTCIceServer, RTCRtpSender
from aiortc.sdp import candidate_from_sdp

from .stream_errors import CandidateRejected


def codec_preferences(kind: str, mime_type: str) -> list:
    """The sender capabilities for one codec (every profile of it), followed by RTX."""
    capabilities = RTCRtpSender.getCapabilities(kind).codecs
    chosen = [c for c in capabilities if c.mimeType.lower() == mime_type.lower()]
    rtx = [c for c in capabilities if c.mimeType.lower() == f"{kind}/rtx"]
    return chosen + rtx


def parse_candidate(candidate: str, sdp_mid: str | None, sdp_mline_index: int | None):
    """An aiortc RTCIceCandidate from the browser's `candidate:...` attribute string."""
    if sdp_mid is None and sdp_mline_index is None:
        raise CandidateRejected("an ICE candidate needs sdpMid or sdpMLineIndex")
    text = candidate.strip()
    if text.startswith("a="):
        text = text[2:]
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    try:
        parsed = candidate_from_sdp(text)
        if parsed.protocol.lower() not in ("udp", "tcp") or not 0 < parsed.port < 65536:
            raise ValueError("bad transport")
    except (AssertionError, ValueError, IndexError) as exc:
        raise CandidateRejected(
            f"candidate is not an RFC 5245 candidate-attribute: {candidate[:120]!r}"
        ) from exc
    parsed.sdpMid = sdp_mid
    parsed.sdpMLineIndex = sdp_mline_index
    return parsed


def ice_server(server: dict) -> RTCIceServer:
    return RTCIceServer(
        urls=server["urls"], username=server.get("username"), credential=server.get("credential")
    )


def on_keyframe_request(sender: RTCRtpSender, callback: Callable[[], None]) -> None:
    """Also call `callback` when the receiver asks for a keyframe (RTCP PLI or FIR).

    aiortc answers a request by forcing a keyframe on the next frame it encodes; a track that
    hands it pre-encoded packets (the idle loop) has to start from a keyframe of its own.
    aiortc has no public hook for this, so the sender's handler is wrapped.
    """
    forward = sender._send_keyframe

    def requested() -> None:
        forward()
        callback()

    sender._send_keyframe = requested
