"""The idle loop of a face: frames at rest that loop without a jump, encoded as a VP8 WebM that
browsers play (and our upload check accepts), rendered once per presenter and kept on disk."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from avatars.validators import video_kind
from engine import idle_video
from engine.face import FaceFinder
from engine.idle_loop import encode_loop
from engine.idle_motion import at_rest
from engine.idle_video import IdleVideos, encode_webm, idle_frames
from engine.presenters import DEFAULT_PRESENTER, UnknownPresenter, presenter_image
from engine.renderer import TalkingHeadRenderer

SIZE = 128
FPS = 25


@pytest.fixture(scope="module")
def renderer() -> TalkingHeadRenderer:
    rgb = presenter_image(DEFAULT_PRESENTER)
    return TalkingHeadRenderer(rgb, FaceFinder().find_in_image(rgb), SIZE)


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def test_the_loop_ends_where_it_begins_so_it_repeats_without_a_jump(renderer):
    frames = list(idle_frames(renderer, seconds=2.0, fps=FPS))
    assert len(frames) == 2 * FPS
    assert frames[0].shape == (SIZE, SIZE, 3) and frames[0].dtype == np.uint8
    steps = [diff(a, b) for a, b in zip(frames, frames[1:], strict=False)]
    wrap = diff(frames[-1], frames[0])
    # Played straight on, the 50th frame (t = 1.96 s) is where the sway and breathing have
    # drifted to: looping back to t = 0 from there would jump.
    jump = diff(renderer.frame((len(frames) - 1) / FPS), frames[0])
    assert wrap <= 2 * max(steps), (wrap, max(steps))
    assert wrap < jump / 2, (wrap, jump)


def test_the_idle_video_shows_the_motion_the_idle_streams_replay(renderer):
    """The page crossfades between its idle video and the live stream: both show one loop."""
    streamed = encode_loop(at_rest(renderer), renderer.blink, FPS)
    video = list(idle_frames(renderer, fps=FPS))
    assert len(video) == len(streamed)
    for frame, t in zip(video, streamed.times, strict=True):
        assert np.array_equal(frame, renderer.frame(t, 0.0))
    assert max(diff(video[0], frame) for frame in video) > 1.0  # the head moves


def test_the_face_rests_its_mouth_shut(renderer):
    frames = list(idle_frames(renderer, seconds=1.0, fps=FPS))
    x0, y0, x1, y1 = renderer.face_regions()["mouth"]
    talking = renderer.frame(0.0, mouth_open=1.0)
    shut = renderer.frame(0.0)
    assert diff(frames[0][y0:y1, x0:x1], shut[y0:y1, x0:x1]) < 1e-6
    assert diff(talking[y0:y1, x0:x1], shut[y0:y1, x0:x1]) > 1.0  # an open mouth would show


def test_the_loop_is_a_vp8_webm_that_decodes_back_and_passes_the_upload_check(renderer):
    data = encode_webm(idle_frames(renderer, seconds=1.0, fps=FPS), fps=FPS)
    assert video_kind(data[:64]) == "WebM"
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name in ("vp8", "libvpx")
        decoded = list(container.decode(stream))
    assert len(decoded) == 24  # a palindrome: an even number of frames, one second at most
    assert (decoded[0].width, decoded[0].height) == (SIZE, SIZE)


def test_no_frames_is_an_error_not_an_empty_file():
    with pytest.raises(ValueError):
        encode_webm(iter([]))


def test_each_presenters_loop_is_rendered_once_then_read_from_disk(tmp_path, monkeypatch):
    rendered = []
    real = idle_video.idle_loop_webm

    def counting(image, **kwargs):
        rendered.append(kwargs["size"])
        return real(image, size=kwargs["size"], seconds=0.4)

    monkeypatch.setattr(idle_video, "idle_loop_webm", counting)
    first = IdleVideos(tmp_path / "idle", size=SIZE)
    data = first.get(DEFAULT_PRESENTER)
    assert first.get(DEFAULT_PRESENTER) is data and rendered == [SIZE]
    files = list((tmp_path / "idle").iterdir())
    assert [f.name for f in files] == [f"{DEFAULT_PRESENTER}-{SIZE}px-v{idle_video.VERSION}.webm"]
    # The next engine start reads it back instead of rendering it again.
    assert IdleVideos(tmp_path / "idle", size=SIZE).get(DEFAULT_PRESENTER) == data
    assert rendered == [SIZE]
    with pytest.raises(UnknownPresenter):
        first.get("nobody")
