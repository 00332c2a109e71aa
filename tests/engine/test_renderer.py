"""The talking head: landmarks found once per photo, and frames that move the right parts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.face import FaceFinder, NoFaceFound, NotAnImage, decode_image, detect_face
from engine.presenters import UnknownPresenter, presenter_ids, presenter_image
from engine.renderer import TalkingHeadRenderer

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module")
def renderer(astronaut, astronaut_landmarks):
    return TalkingHeadRenderer(astronaut, astronaut_landmarks, 256)


def region(frame: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return frame[y0:y1, x0:x1].astype(np.float32)


def difference(a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> float:
    return float(np.abs(region(a, box) - region(b, box)).mean())


def an_open_eyed_moment(renderer: TalkingHeadRenderer) -> float:
    return next(t for t in np.arange(0.0, 10.0, 0.04) if renderer.blink(t) == 0.0)


def png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image[:, :, ::-1])
    assert ok
    return data.tobytes()


def test_the_astronauts_eyes_and_mouth_are_found_where_a_face_has_them(astronaut_landmarks):
    lm = astronaut_landmarks
    x, y, w, h = lm.face
    assert lm.estimated == ()
    assert lm.eye_left[0] < lm.mouth_center[0] < lm.eye_right[0]
    assert y < lm.eye_left[1] < lm.mouth_center[1] < y + h
    assert y < lm.eye_right[1] < lm.mouth_center[1]
    assert lm.mouth_left[0] < lm.mouth_center[0] < lm.mouth_right[0]
    assert x < lm.mouth_left[0] and lm.mouth_right[0] < x + w


def test_a_photo_without_a_face_is_refused_with_no_face_found():
    blank = np.full((300, 300, 3), 180, np.uint8)
    with pytest.raises(NoFaceFound):
        detect_face(blank)
    with pytest.raises(NoFaceFound):
        FaceFinder().find(png(blank))


def test_bytes_that_are_not_an_image_are_refused_with_not_an_image():
    with pytest.raises(NotAnImage):
        decode_image(b"GIF89a? no, just text")
    with pytest.raises(NotAnImage):
        FaceFinder().find(b"")


def test_landmarks_are_computed_once_per_image_and_kept_on_disk(astronaut, tmp_path, monkeypatch):
    data = png(astronaut)
    first = FaceFinder(cache_dir=tmp_path).find(data)
    assert len(list(tmp_path.glob("*.json"))) == 1

    def no_detection(image):
        raise AssertionError("the face was detected again")

    monkeypatch.setattr("engine.face.detect_face", no_detection)
    assert FaceFinder(cache_dir=tmp_path).find(data) == first  # a new process reads the disk
    finder = FaceFinder()
    with pytest.raises(AssertionError):
        finder.find(data)


def test_every_bundled_presenter_has_a_face():
    for presenter_id in presenter_ids():
        assert detect_face(presenter_image(presenter_id)).estimated == ()
    with pytest.raises(UnknownPresenter):
        presenter_image("amy-jcwCkr1grs")


@pytest.mark.parametrize("size", [128, 256, 333])
def test_frames_come_at_the_requested_resolution_and_are_reproducible(
    astronaut, astronaut_landmarks, size
):
    one = TalkingHeadRenderer(astronaut, astronaut_landmarks, size)
    two = TalkingHeadRenderer(astronaut, astronaut_landmarks, size)
    for t, mouth in [(0.0, 0.0), (1.37, 0.6), (7.9, 1.0)]:
        frame = one.frame(t, mouth, "aa")
        assert frame.shape == (size, size, 3) and frame.dtype == np.uint8
        assert np.array_equal(frame, two.frame(t, mouth, "aa"))


def test_opening_the_mouth_changes_the_mouth_and_leaves_the_rest_of_the_face(renderer):
    t = an_open_eyed_moment(renderer)
    closed, open_ = renderer.frame(t, 0.0), renderer.frame(t, 1.0, "aa")
    regions = renderer.face_regions()
    assert difference(closed, open_, regions["mouth"]) > 8.0
    assert difference(closed, open_, regions["eye_left"]) == 0.0
    assert difference(closed, open_, regions["eye_right"]) == 0.0
    outside = np.ones(closed.shape[:2], bool)
    x0, y0, x1, y1 = regions["mouth"]
    outside[y0:y1, x0:x1] = False
    assert np.abs(closed.astype(int) - open_.astype(int))[outside].mean() < 0.05
    # The opening is dark, as the inside of a mouth is.
    assert region(open_, regions["mouth"]).mean() < region(closed, regions["mouth"]).mean() - 3


def test_an_idle_second_changes_the_mouth_only_slightly(renderer):
    mouth = renderer.face_regions()["mouth"]
    t0 = an_open_eyed_moment(renderer)
    wide_open = difference(renderer.frame(t0, 0.0), renderer.frame(t0, 1.0, "aa"), mouth)
    idle = [renderer.frame(t0 + i / 25) for i in range(26)]
    step_by_step = [difference(a, b, mouth) for a, b in zip(idle, idle[1:], strict=False)]
    assert max(step_by_step) < 1.0  # breathing and sway are slow
    assert 0.0 < max(difference(idle[0], f, mouth) for f in idle) < 0.5 * wide_open


def test_the_eyes_blink_every_few_seconds_and_a_blink_closes_them(renderer):
    closed = (np.array([renderer.blink(t) for t in np.arange(0.0, 60.0, 0.01)]) > 0.5).astype(int)
    blinks = int(np.sum(np.diff(closed) == 1))
    assert 10 <= blinks <= 30  # one every 2 to 6 seconds
    assert 0.08 <= closed.sum() / blinks * 0.01 <= 0.2  # each closed for well under 200 ms

    shut = next(t for t in np.arange(0.0, 10.0, 0.01) if renderer.blink(t) > 0.99)
    regions = renderer.face_regions()
    before, during = renderer.frame(shut - 0.3), renderer.frame(shut)
    eyes_change = difference(before, during, regions["eye_left"])
    assert eyes_change > 10.0
    assert difference(before, during, regions["eye_right"]) > 10.0
    assert difference(before, during, regions["mouth"]) < 0.5 * eyes_change
