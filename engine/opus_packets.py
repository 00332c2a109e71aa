"""The avatar's audio as Opus packets made by the track itself: speech encoded as it is pulled,
silence sent as one cached packet.

Handing aiortc an `AudioFrame` costs every stream, 50 times a second, a thread-pool hop to
encode it (`RTCRtpSender._next_encoded_frame`), a resample to stereo and an audio-level scan,
even for the silence an idle stream sends all the time: half the Python work of an idle stream
(py-spy on the media child with three idle streams). An `av.Packet` is only packed. So the track
keeps its own encoder and hands over packets: speech is encoded here (about 0.16 ms a frame, on
the event loop), and once the encoder has settled into silence, its steady silent packet is sent
again as it is. Packets carry the track's own timestamps, so a talk after any length of silence
continues the clock; the encoder is never skipped over speech, so it never holds stale audio.
"""

from __future__ import annotations

import fractions

import av
import numpy as np
from av import AudioFrame, Packet

SAMPLE_RATE = 48000
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)
BIT_RATE = 64000  # mono speech; aiortc's own encoder uses 96 kb/s for stereo
# Silent frames still encoded after speech: they flush the encoder's 6.5 ms lookahead, and by
# then its packets are the steady 3-byte silence.
SETTLE_FRAMES = 5


class OpusPackets:
    """One audio track's encoder: `packet(samples, pts)` for each 20 ms of mono s16 PCM."""

    def __init__(self) -> None:
        codec = av.CodecContext.create("libopus", "w")
        codec.bit_rate = BIT_RATE
        codec.format = "s16"
        codec.layout = "mono"
        codec.sample_rate = SAMPLE_RATE
        codec.time_base = TIME_BASE
        codec.options = {"application": "voip"}
        self._codec = codec
        self._silent: bytes | None = None
        self._quiet = 0  # silent frames in a row
        self.encoded = 0  # frames that went through the encoder (the rest were the cached one)

    def packet(self, samples: np.ndarray, pts: int) -> Packet:
        quiet = not samples.any()
        self._quiet = self._quiet + 1 if quiet else 0
        if quiet and self._silent is not None and self._quiet > SETTLE_FRAMES:
            data = self._silent
        else:
            data = self._encode(samples, pts)
            if self._quiet == SETTLE_FRAMES:
                self._silent = data
        packet = Packet(data)
        packet.pts = pts
        packet.time_base = TIME_BASE
        return packet

    def _encode(self, samples: np.ndarray, pts: int) -> bytes:
        frame = AudioFrame(format="s16", layout="mono", samples=len(samples))
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate = SAMPLE_RATE
        frame.pts = pts
        frame.time_base = TIME_BASE
        self.encoded += 1
        # libopus gives one packet per 20 ms frame, from the first (its delay is in the pts).
        return b"".join(bytes(p) for p in self._codec.encode(frame))
