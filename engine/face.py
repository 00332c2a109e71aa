"""Where the face is in an avatar photo: face box, eyes and mouth, found once per image.

The renderer animates a photo by warping small regions around the eyes and the mouth, so it
needs to know where they are. OpenCV 4.x ships Haar cascades (frontal face, eye, smile) that run
offline in a few tens of milliseconds; that is enough because landmarks are computed once per
source image and cached by the sha256 of its bytes (in memory, and optionally as JSON on disk).
Parts the cascades miss are placed by the usual proportions of a frontal face and listed in
`FaceLandmarks.estimated`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .config import MAX_IMAGE_PIXELS, configured_threads

logger = logging.getLogger(__name__)

if configured_threads():  # a child of the engine: OpenCV's pool is as big as it was given
    cv2.setNumThreads(configured_threads())

LANDMARKS_VERSION = 1
_DETECT_MAX_SIDE = 1024  # larger photos are scaled down for detection only


class NoFaceFound(ValueError):
    """The image decodes, but no frontal face was found in it."""


class NotAnImage(ValueError):
    """The bytes are not an image OpenCV can decode (JPEG, PNG, WebP, BMP, ...)."""


class ImageTooLarge(NotAnImage):
    """The image declares more pixels than the engine decodes."""


Box = tuple[float, float, float, float]  # x, y, width, height in source-image pixels
Point = tuple[float, float]  # x, y in source-image pixels


@dataclass(frozen=True)
class FaceLandmarks:
    """Key points of one face, in the pixel coordinates of the source image.

    "left" and "right" are as seen in the image (the viewer's left), not the person's.
    """

    image_size: tuple[int, int]  # width, height
    face: Box
    eye_left: Point
    eye_right: Point
    eye_size: float  # width of an eye's Haar box: the scale of the blink warp
    mouth_left: Point  # the corners
    mouth_right: Point
    mouth_center: Point  # where the mouth opens: between the lips, or under the upper teeth
    estimated: tuple[str, ...] = ()  # parts placed by proportion because no cascade found them

    @property
    def face_center(self) -> Point:
        x, y, w, h = self.face
        return (x + w / 2, y + h / 2)

    @property
    def mouth_width(self) -> float:
        return float(self.mouth_right[0] - self.mouth_left[0])

    def to_dict(self) -> dict:
        return {"version": LANDMARKS_VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> FaceLandmarks:
        if data.get("version") != LANDMARKS_VERSION:
            raise ValueError("landmarks were computed by another version")
        return cls(
            image_size=tuple(int(v) for v in data["image_size"]),
            face=tuple(float(v) for v in data["face"]),
            eye_left=tuple(float(v) for v in data["eye_left"]),
            eye_right=tuple(float(v) for v in data["eye_right"]),
            eye_size=float(data["eye_size"]),
            mouth_left=tuple(float(v) for v in data["mouth_left"]),
            mouth_right=tuple(float(v) for v in data["mouth_right"]),
            mouth_center=tuple(float(v) for v in data["mouth_center"]),
            estimated=tuple(data.get("estimated", ())),
        )


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the image's header alone, before any pixel is decoded."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Image.DecompressionBombError:
        raise ImageTooLarge("the image has too many pixels") from None
    except (OSError, ValueError, SyntaxError):  # Pillow's ways of saying "not an image I know"
        raise NotAnImage("not an image (JPEG, PNG, WebP, BMP, ...)") from None


def decode_image(data: bytes, *, max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """Decode image bytes to an RGB uint8 array (alpha is dropped, grey becomes RGB).

    The pixel count is checked from the header first: a small file can declare a huge image
    (a decompression bomb) that would take gigabytes to decode.
    """
    if not data:
        raise NotAnImage("empty file")
    width, height = image_size(data)
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width} x {height} pixels; the limit is {max_pixels} pixels"
        )
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise NotAnImage("not an image OpenCV can decode")
    return as_rgb(image, bgr=True)


def as_rgb(image: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """Any 2-D grey, RGB(A) or BGR(A) array as a contiguous RGB uint8 array."""
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise NotAnImage(f"expected a grey or colour image, got an array of shape {image.shape}")
    if image.dtype != np.uint8:
        if image.dtype.kind == "f":
            image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255)
        elif image.dtype == np.uint16:
            image = image / 257.0
        image = image.astype(np.uint8)
    if image.ndim == 2 or image.shape[2] == 1:
        return np.ascontiguousarray(np.repeat(image.reshape(image.shape[0], -1, 1), 3, axis=2))
    if image.shape[2] == 4:
        image = image[:, :, :3]
    if bgr:
        image = image[:, :, ::-1]
    return np.ascontiguousarray(image)


def image_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@cache
def _cascade(name: str) -> cv2.CascadeClassifier:
    classifier = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / name))
    if classifier.empty():
        raise RuntimeError(f"OpenCV has no Haar cascade {name} (OpenCV 5 dropped them; use 4.x)")
    return classifier


_CASCADE_LOCK = threading.Lock()  # CascadeClassifier objects are not documented thread-safe


def detect_face(image_rgb: np.ndarray) -> FaceLandmarks:
    """Find the largest frontal face and its eyes and mouth. Raises NoFaceFound."""
    image_rgb = as_rgb(image_rgb)
    height, width = image_rgb.shape[:2]
    grey = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)
    scale = min(1.0, _DETECT_MAX_SIDE / max(height, width))
    small = (
        grey
        if scale == 1.0
        else cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    )
    small = cv2.equalizeHist(small)
    min_side = max(24, int(0.06 * min(small.shape)))

    with _CASCADE_LOCK:
        faces: list = []
        for name in ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml"):
            found = _cascade(name).detectMultiScale(small, 1.1, 5, minSize=(min_side, min_side))
            faces = list(found) if len(found) else []
            if faces:
                break
        if not faces:
            raise NoFaceFound("no face found in the image")
        fx, fy, fw, fh = (v / scale for v in max(faces, key=lambda f: f[2] * f[3]))
        box = (slice(int(fy), int(fy + fh)), slice(int(fx), int(fx + fw)))
        face_grey = cv2.equalizeHist(grey[box])
        eyes = _find_eyes(face_grey)
        mouth = _find_mouth(face_grey, image_rgb[box])

    estimated: list[str] = []
    if eyes is None:
        estimated.append("eyes")
        eyes = ((0.3 * fw, 0.38 * fh), (0.7 * fw, 0.38 * fh), 0.22 * fw)
    (lx, ly), (rx, ry), eye_size = eyes
    if mouth is None:
        estimated.append("mouth")
        mouth = ((0.31 * fw, 0.78 * fh), (0.69 * fw, 0.78 * fh), 0.78 * fh)
    (mlx, mly), (mrx, mry), opening = mouth
    return FaceLandmarks(
        image_size=(width, height),
        face=(float(fx), float(fy), float(fw), float(fh)),
        eye_left=(float(fx + lx), float(fy + ly)),
        eye_right=(float(fx + rx), float(fy + ry)),
        eye_size=float(eye_size),
        mouth_left=(float(fx + mlx), float(fy + mly)),
        mouth_right=(float(fx + mrx), float(fy + mry)),
        mouth_center=(float(fx + (mlx + mrx) / 2), float(fy + opening)),
        estimated=tuple(estimated),
    )


def _find_eyes(face: np.ndarray) -> tuple[Point, Point, float] | None:
    """One eye in each upper quarter of the face box, or None."""
    h, w = face.shape
    top, bottom = int(0.12 * h), int(0.58 * h)
    band = face[top:bottom]
    min_side = max(8, int(0.12 * w))
    found = _cascade("haarcascade_eye.xml").detectMultiScale(
        band, 1.08, 4, minSize=(min_side, min_side)
    )
    left, right = [], []
    for ex, ey, ew, eh in found:
        cx, cy = ex + ew / 2, top + ey + eh / 2
        if ew > 0.4 * w:
            continue
        (left if cx < w / 2 else right).append((ew * eh, cx, cy, ew))
    if not left or not right:
        return None
    _, lx, ly, lw = max(left)
    _, rx, ry, rw = max(right)
    if abs(ly - ry) > 0.12 * h or rx - lx < 0.25 * w:
        return None
    return (lx, ly), (rx, ry), (lw + rw) / 2


def _find_mouth(face: np.ndarray, face_rgb: np.ndarray) -> tuple[Point, Point, float] | None:
    """The mouth corners and the row where the mouth opens (face-box coordinates), or None."""
    h, w = face.shape
    top = int(0.55 * h)
    band = face[top:]
    found = _cascade("haarcascade_smile.xml").detectMultiScale(
        band, 1.1, 12, minSize=(max(12, int(0.22 * w)), max(6, int(0.1 * h)))
    )
    best = None
    for sx, sy, sw, sh in found:
        cx, cy = sx + sw / 2, top + sy + sh / 2
        if not (0.3 * w < cx < 0.7 * w and 0.62 * h < cy < 0.95 * h and 0.22 * w < sw < 0.7 * w):
            continue
        score = abs(cx - 0.5 * w) + abs(cy - 0.8 * h)
        if best is None or score < best[0]:
            best = (score, sx, top + sy, sw, sh)
    if best is None:
        return None
    _, sx, sy, sw, sh = best
    centre = face_rgb[sy : sy + sh, int(sx + 0.3 * sw) : int(sx + 0.7 * sw)]
    opening = _mouth_opening_row(centre) + sy
    # Corners are the darkest spots at either end of the smile box, level with or above the
    # opening (a smile lifts them).
    grey = cv2.GaussianBlur(face.astype(np.float32), (5, 5), 0)
    rows = slice(max(0, int(opening - 0.1 * h)), min(h, int(opening + 0.03 * h) + 1))
    corners = []
    for cols in (slice(int(sx), int(sx + 0.35 * sw)), slice(int(sx + 0.65 * sw), int(sx + sw))):
        window = grey[rows, cols]
        if window.size == 0:
            return None
        y, x = np.unravel_index(int(np.argmin(window)), window.shape)
        corners.append((float(cols.start + x), float(rows.start + y)))
    (lx, ly), (rx, ry) = corners
    if rx - lx < 0.2 * w:
        corners = [(sx + 0.1 * sw, opening), (sx + 0.9 * sw, opening)]
    return corners[0], corners[1], opening


def _mouth_opening_row(mouth_rgb: np.ndarray) -> float:
    """The row where the jaw separates: under the upper teeth if they show, else where the lips meet.

    Lips meet on the darkest row. In a smile the upper teeth show as a band of bright,
    unsaturated rows; they stay with the skull when the jaw drops, so the opening is below them.
    """
    h = mouth_rgb.shape[0]
    lo, hi = int(0.15 * h), max(int(0.9 * h), int(0.15 * h) + 1)
    hsv = cv2.cvtColor(np.ascontiguousarray(mouth_rgb), cv2.COLOR_RGB2HSV).astype(np.float32)
    whiteness = (hsv[:, :, 2] - hsv[:, :, 1]).mean(axis=1)
    teeth = whiteness[lo:hi] > np.median(whiteness) + 25
    best_start, best_len, start = 0, 0, None
    for i, is_teeth in enumerate([*teeth, False]):
        if is_teeth and start is None:
            start = i
        elif not is_teeth and start is not None:
            if i - start > best_len:
                best_start, best_len = start, i - start
            start = None
    if best_len >= 2:
        return float(lo + best_start + best_len)
    grey = cv2.cvtColor(np.ascontiguousarray(mouth_rgb), cv2.COLOR_RGB2GRAY).astype(np.float32)
    rows = cv2.GaussianBlur(grey.mean(axis=1).reshape(-1, 1), (1, 3), 0).ravel()
    return float(lo + np.argmin(rows[lo:hi]))


class FaceFinder:
    """Landmarks per image, computed once: an in-memory LRU plus an optional JSON dir on disk."""

    def __init__(self, cache_dir: Path | str | None = None, max_entries: int = 128) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else None
        self.max_entries = max_entries
        self._memory: OrderedDict[str, FaceLandmarks] = OrderedDict()
        self._lock = threading.Lock()

    def find(self, data: bytes) -> FaceLandmarks:
        """Landmarks of the face in these image bytes. Raises NotAnImage or NoFaceFound."""
        digest = image_digest(data)
        cached = self._cached(digest)
        if cached is not None:
            return cached
        return self._store(digest, detect_face(decode_image(data)))

    def find_in_image(self, image_rgb: np.ndarray) -> FaceLandmarks:
        """Landmarks of the face in a decoded RGB image (cached by its pixels)."""
        image_rgb = as_rgb(image_rgb)
        digest = image_digest(repr(image_rgb.shape).encode() + image_rgb.tobytes())
        cached = self._cached(digest)
        if cached is not None:
            return cached
        return self._store(digest, detect_face(image_rgb))

    def _cached(self, digest: str) -> FaceLandmarks | None:
        with self._lock:
            if digest in self._memory:
                self._memory.move_to_end(digest)
                return self._memory[digest]
        if self.cache_dir is None:
            return None
        path = self.cache_dir / f"{digest}.json"
        try:
            landmarks = FaceLandmarks.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            logger.warning("ignoring unreadable landmark cache %s", path)
            return None
        self._remember(digest, landmarks)
        return landmarks

    def _store(self, digest: str, landmarks: FaceLandmarks) -> FaceLandmarks:
        self._remember(digest, landmarks)
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_dir / f".{digest}.json.tmp"
            tmp.write_text(json.dumps(landmarks.to_dict()))
            tmp.replace(self.cache_dir / f"{digest}.json")
        return landmarks

    def _remember(self, digest: str, landmarks: FaceLandmarks) -> None:
        with self._lock:
            self._memory[digest] = landmarks
            self._memory.move_to_end(digest)
            while len(self._memory) > self.max_entries:
                self._memory.popitem(last=False)
