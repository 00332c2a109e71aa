"""What a browser does with the engine's audio packets: decode each to its 20 ms of PCM."""

from __future__ import annotations

import av


class OpusReceiver:
    def __init__(self) -> None:
        self.codec = av.CodecContext.create("libopus", "r")
        self.codec.sample_rate, self.codec.layout, self.codec.format = 48000, "mono", "s16"

    def decode(self, packet: av.Packet) -> av.AudioFrame:
        assert isinstance(packet, av.Packet)  # packed by aiortc, never encoded again
        (frame,) = self.codec.decode(av.Packet(bytes(packet)))
        frame.pts, frame.time_base = packet.pts, packet.time_base
        return frame
