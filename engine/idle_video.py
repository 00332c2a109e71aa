"""The idle loop of a face: a few seconds of it at rest (mouth shut, blinking, breathing), as a
VP8 WebM that browsers loop in a muted <video> while the avatar is silent.

D-ID's presenters and agents carry such a clip as `idle_video`; the engine renders one per
bundled presenter with its own renderer, once, keeps it in memory and, given a folder (under
VAR_DIR), on disk, and its presenter list links to it (catalog.py).

The motion is the face's one idle loop (idle_motion.py): the frames the engine's idle streams
replay, so the page's idle video and the stream it crossfades with show the same face at rest.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from .face import FaceFinder, decode_image
from .idle_motion import idle_frames
from .presenters import presenter_image
from .renderer import TalkingHeadRenderer

log = logging.getLogger(__name__)

LOOP_FPS = 25
BIT_RATE = 800_000  # bits/s: a still face compresses well; this keeps 512 px sharp
# libvpx's default (best quality, slowest) takes seconds a loop; "good" at speed 4, a third of a
# second at 512 px, for a file of much the same size.
ENCODER_OPTIONS = {"deadline": "good", "cpu-used": "4"}
VERSION = 2  # bump when the loop's look changes, so cached files are rendered again


def encode_webm(frames: Iterator[np.ndarray], *, fps: int = LOOP_FPS) -> bytes:
    """A VP8 WebM of RGB frames (all the same even size)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="webm") as container:
        stream = None
        for rgb in frames:
            if stream is None:
                stream = container.add_stream("libvpx", rate=fps)
                stream.height, stream.width = rgb.shape[:2]
                stream.pix_fmt = "yuv420p"
                stream.bit_rate = BIT_RATE
                stream.options = dict(ENCODER_OPTIONS)
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        if stream is None:
            raise ValueError("no frames to encode")
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def idle_loop_webm(
    image: bytes | np.ndarray, *, size: int = 512, seconds: float | None = None,
    fps: int = LOOP_FPS,
) -> bytes:
    """The idle loop of the face in a photo (encoded bytes, or an RGB array), `size` px square;
    `seconds` shortens it (tests), by default it is the idle streams' loop."""
    rgb = decode_image(image) if isinstance(image, bytes) else image
    renderer = TalkingHeadRenderer(rgb, FaceFinder().find_in_image(rgb), size)
    return encode_webm(idle_frames(renderer, seconds=seconds, fps=fps), fps=fps)


class IdleVideos:
    """Each bundled presenter's idle loop, rendered on first use (in the caller's thread)."""

    def __init__(self, folder: Path | str | None = None, *, size: int = 512) -> None:
        self.folder = Path(folder) if folder else None
        self.size = size
        self._memory: dict[str, bytes] = {}
        self._lock = threading.Lock()  # one render at a time: two asks for one loop render it once

    def get(self, presenter_id: str) -> bytes:
        """The WebM of a bundled presenter; raises presenters.UnknownPresenter."""
        with self._lock:
            if presenter_id in self._memory:
                return self._memory[presenter_id]
            path = self._path(presenter_id)
            if path is not None and path.is_file():
                data = path.read_bytes()
            else:
                data = idle_loop_webm(presenter_image(presenter_id), size=self.size)
                log.info("idle loop of %s rendered: %d bytes", presenter_id, len(data))
                if path is not None:
                    self._store(path, data)
            self._memory[presenter_id] = data
            return data

    def _path(self, presenter_id: str) -> Path | None:
        if self.folder is None:
            return None
        return self.folder / f"{presenter_id}-{self.size}px-v{VERSION}.webm"

    @staticmethod
    def _store(path: Path, data: bytes) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            partial.write_bytes(data)
            partial.replace(path)  # never a half-written loop for the next start to read
        except OSError as exc:  # a read-only var dir costs a render per start, nothing more
            log.warning("idle loop not cached at %s: %s", path, exc)
