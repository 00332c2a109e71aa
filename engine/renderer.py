"""A talking head from one photo: mouth warp, blinks, slight head motion and breathing.

Everything that does not depend on time is computed once, at construction: the head-and-
shoulders crop at the output resolution, the displacement fields of the jaw, lips and eyelids,
and the blink schedule. A frame is then two small `cv2.remap` calls (mouth, eyes) on a copy of
the crop and one `cv2.warpAffine` for the head motion, a few milliseconds even at 720 px.

`frame(t, ...)` is a pure function of its arguments (the randomness is seeded), so two renderers
built alike draw identical frames, and frames may be rendered in any thread.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import cv2
import numpy as np

from .face import FaceLandmarks, as_rgb
from .visemes import shape_of

# Framing: the crop is FRAMING face-widths wide, centred a little below the face centre.
FRAMING = 2.8
MARGIN = 0.05  # extra border rendered around the frame so head motion never shows an edge

# Mouth, in face widths (F) and heights (H) of the face box, at mouth_open = 1.
UPPER_LIP_RISE = 0.02  # F
LOWER_LIP_DROP = 0.085  # F
JAW_DROP = 0.075  # F
MOUTH_SPREAD = 0.05  # F: how far the corners move for a fully wide or rounded viseme

# Blinks.
BLINK_INTERVAL = (2.0, 6.0)  # seconds between blinks
BLINK_CLOSE, BLINK_HOLD, BLINK_OPEN = 0.05, 0.03, 0.08  # seconds: ~160 ms in all

# Inside the mouth, from the upper teeth's shadow through the dark middle to the tongue.
MOUTH_SHADOW_RGB = np.array([46, 20, 22], np.float32)
MOUTH_DARK_RGB = np.array([26, 9, 11], np.float32)
TONGUE_RGB = np.array([120, 52, 56], np.float32)


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


@dataclass(frozen=True)
class _Region:
    """A rectangle of the base image, as slices and as a float pixel grid."""

    x0: int
    y0: int
    x1: int
    y1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def grid(self) -> tuple[np.ndarray, np.ndarray]:
        xs = np.arange(self.x0, self.x1, dtype=np.float32)
        ys = np.arange(self.y0, self.y1, dtype=np.float32)
        return np.meshgrid(xs, ys)

    @classmethod
    def clipped(cls, x0: float, y0: float, x1: float, y1: float, side: int) -> _Region:
        return cls(
            max(0, int(math.floor(x0))),
            max(0, int(math.floor(y0))),
            min(side, int(math.ceil(x1))),
            min(side, int(math.ceil(y1))),
        )


class _Mouth:
    """Jaw drop, lip parting and lip spread as backward maps over the mouth-and-chin region."""

    def __init__(
        self, base_side: int, face: tuple[float, float, float, float], center, left, right
    ):
        fx, fy, fw, fh = face
        cx, lip = center
        chin = fy + 1.05 * fh
        self.region = _Region.clipped(
            cx - 0.55 * fw, lip - 0.22 * fh, cx + 0.55 * fw, chin + 0.3 * fh, base_side
        )
        x, y = self.region.grid()
        dx = x[0] - cx
        half_width = max(0.6 * (right[0] - left[0]), 0.15 * fw)
        # The opening follows a parabola through the centre and (roughly) the corners: a smile
        # lifts the corners above the centre.
        lift = float(np.clip((left[1] + right[1]) / 2 - lip, -0.08 * fh, 0.08 * fh))
        curve = lift * np.clip(dx / half_width, -1.0, 1.0) ** 2
        self.lip = (lip + curve).astype(np.float32)  # per column
        self.x, self.y = x, y
        d = y - self.lip
        lens = (
            np.clip(1.0 - (dx / half_width) ** 2, 0.0, 1.0) ** 0.8
        )  # per column: lip-opening shape
        jaw = np.exp(-((dx / (0.36 * fw)) ** 4))
        self.rise = (UPPER_LIP_RISE * fw * lens).astype(np.float32)  # per column
        self.drop = (LOWER_LIP_DROP * fw * lens).astype(np.float32)  # per column
        # Upper field: the upper lip rises, fading out towards the nose.
        self.upper = (self.rise * (1.0 - _smoothstep(0.0, 0.12 * fh, -d))).astype(np.float32)
        # Lower field: lip drop at the lip line blends into the jaw drop at the chin; the neck stays.
        blend = _smoothstep(0.0, 0.25 * fh, d)
        fade = 1.0 - _smoothstep(chin - 0.02 * fh, chin + 0.25 * fh, y)
        self.lower = (((1.0 - blend) * self.drop + blend * JAW_DROP * fw * jaw) * fade).astype(
            np.float32
        )
        # Corners move out (wide) or in (rounded) around the lip line.
        spread = np.sin(np.pi * np.clip(dx / (1.6 * half_width), -1.0, 1.0))
        self.spread = (MOUTH_SPREAD * fw * spread * np.exp(-((d / (0.1 * fh)) ** 2))).astype(
            np.float32
        )

    def draw(self, base: np.ndarray, out: np.ndarray, mouth_open: float, spread: float) -> None:
        """Write the warped mouth region of `base` into `out` (same shape)."""
        m = mouth_open
        top = self.lip - m * self.rise  # per column: where the upper lip now ends
        bottom = self.lip + m * self.drop  # per column: where the lower lip now starts
        y = self.y
        map_y = np.where(
            y < top, y + m * self.upper, np.where(y > bottom, y - m * self.lower, self.lip)
        )
        # (inside the opening map_y is the lip line; the inner mouth is painted over it below)
        map_x = self.x - (spread - 0.3 * m) * self.spread
        region = cv2.remap(
            base, map_x, map_y.astype(np.float32), cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        gap = bottom - top
        if m > 0.01 and float(gap.max()) > 0.5:
            inside = np.minimum(y - top, bottom - y)
            alpha = np.clip(inside + 0.5, 0.0, 1.0) * np.clip(gap / 2.0, 0.0, 1.0)
            depth = np.clip((y - top) / np.maximum(gap, 1e-3), 0.0, 1.0)[:, :, None]
            shadow = np.clip(1.0 - depth / 0.45, 0.0, 1.0)
            tongue = np.clip((depth - 0.55) / 0.45, 0.0, 1.0) * min(1.0, m * 1.2) * 0.6
            inner = MOUTH_DARK_RGB + shadow * (MOUTH_SHADOW_RGB - MOUTH_DARK_RGB)
            inner = inner + tongue * (TONGUE_RGB - inner)
            alpha = alpha[:, :, None]
            region = (region * (1.0 - alpha) + inner * alpha).astype(np.uint8)
        out[self.region.slices] = region


class _Eye:
    """An upper eyelid that slides down over the eye.

    The lash line moves down to the lid's new edge and the skin between the brow and the lashes
    is stretched to follow it, so a closed eye shows skin, not stretched lashes.
    """

    def __init__(self, base_side: int, center: tuple[float, float], eye_size: float):
        ex, ey = center
        half_width, half_height = 0.42 * eye_size, 0.15 * eye_size
        lash, skin = 0.06 * eye_size, 0.18 * eye_size
        self.region = _Region.clipped(
            ex - 0.5 * eye_size,
            ey - half_height - lash - skin - 2,
            ex + 0.5 * eye_size,
            ey + half_height + 3,
            base_side,
        )
        x, y = self.region.grid()
        self.x, self.y = x, y
        shape = np.clip(1.0 - ((x[0] - ex) / half_width) ** 2, 0.0, 1.0) ** 0.5
        # Per column, top to bottom: skin from skin_top, lashes from lash_top, the eye from top.
        self.top = (ey - half_height * shape).astype(np.float32)
        self.bottom = (ey + 0.8 * half_height * shape).astype(np.float32)
        self.lash_top = (self.top - lash * shape).astype(np.float32)
        self.skin_top = (self.lash_top - skin * shape).astype(np.float32)

    def draw(self, base: np.ndarray, out: np.ndarray, closed: float) -> None:
        shift = closed * (self.bottom - self.top)  # how far the lash line moves down
        lid_lash_top = self.lash_top + shift
        y = self.y
        skin = self.skin_top + (y - self.skin_top) * (self.lash_top - self.skin_top) / np.maximum(
            lid_lash_top - self.skin_top, 1e-3
        )
        map_y = np.where(
            (y >= self.skin_top) & (y < lid_lash_top),
            skin,
            np.where((y >= lid_lash_top) & (y <= self.top + shift), y - shift, y),
        ).astype(np.float32)
        out[self.region.slices] = cv2.remap(
            base, self.x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )


class TalkingHeadRenderer:
    """Frames of a talking head at `size` x `size` pixels from one photo and its landmarks."""

    def __init__(
        self,
        image_rgb: np.ndarray,
        landmarks: FaceLandmarks,
        size: int = 512,
        *,
        seed: int = 0,
        framing: float = FRAMING,
    ) -> None:
        if size < 64:
            raise ValueError("size must be at least 64 pixels")
        self.size = int(size)
        image = as_rgb(image_rgb)
        fx, fy, fw, fh = landmarks.face
        crop = framing * fw * (1 + 2 * MARGIN)  # source pixels covered by the base image
        self.base_side = base_side = int(round(self.size * (1 + 2 * MARGIN)))
        scale = base_side / crop
        x0 = fx + fw / 2 - crop / 2
        y0 = fy + 0.7 * fh - crop / 2  # the face sits in the upper half of the frame
        self.base = self._crop(image, x0, y0, scale, base_side)

        def to_base(point: tuple[float, float]) -> tuple[float, float]:
            return ((point[0] - x0) * scale, (point[1] - y0) * scale)

        face = (*to_base((fx, fy)), fw * scale, fh * scale)
        self._mouth = _Mouth(
            base_side,
            face,
            to_base(landmarks.mouth_center),
            to_base(landmarks.mouth_left),
            to_base(landmarks.mouth_right),
        )
        eye_size = landmarks.eye_size * scale
        self._eyes = [
            _Eye(base_side, to_base(p), eye_size) for p in (landmarks.eye_left, landmarks.eye_right)
        ]
        self._pivot = (face[0] + face[2] / 2, face[1] + 1.4 * face[3])  # the neck: heads turn on it
        self._offset = MARGIN * self.size

        rng = np.random.default_rng(seed)
        intervals = rng.uniform(*BLINK_INTERVAL, size=256)
        self._blinks = np.cumsum(np.concatenate([[rng.uniform(1.0, 3.0)], intervals]))
        self._blink_period = float(self._blinks[-1])
        self._phases = rng.uniform(0.0, 2 * np.pi, size=6)
        # Equal for renderers that draw identical frames (what per-face caches are keyed by).
        digest = hashlib.blake2b(self.base.tobytes(), digest_size=16)
        digest.update(repr((landmarks, self.size, seed, framing)).encode())
        self.fingerprint = digest.hexdigest()

    @staticmethod
    def _crop(image: np.ndarray, x0: float, y0: float, scale: float, side: int) -> np.ndarray:
        if scale < 1.0:  # shrink first with area averaging so fine detail does not alias
            image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            x0, y0, scale = x0 * scale, y0 * scale, 1.0
        matrix = np.float32([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]])
        return cv2.warpAffine(
            image, matrix, (side, side), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
        )

    def blink(self, t: float) -> float:
        """How closed the eyes are at time t (0 open .. 1 closed)."""
        local = t % self._blink_period
        i = int(np.searchsorted(self._blinks, local, side="right")) - 1
        if i < 0:
            return 0.0
        tau = local - float(self._blinks[i])
        if tau < BLINK_CLOSE:
            x = tau / BLINK_CLOSE
            return x * x
        tau -= BLINK_CLOSE
        if tau < BLINK_HOLD:
            return 1.0
        tau -= BLINK_HOLD
        if tau < BLINK_OPEN:
            x = 1.0 - tau / BLINK_OPEN
            return x * x * (3 - 2 * x)
        return 0.0

    def head_pose(self, t: float) -> tuple[float, float, float, float]:
        """(angle in degrees, dx, dy in output pixels, scale) at time t: sway, nod and breathing."""
        p = self._phases
        two_pi = 2 * np.pi
        angle = 0.9 * math.sin(two_pi * 0.13 * t + p[0]) + 0.5 * math.sin(two_pi * 0.31 * t + p[1])
        dx = self.size * (
            0.006 * math.sin(two_pi * 0.09 * t + p[2]) + 0.003 * math.sin(two_pi * 0.21 * t + p[3])
        )
        breath = math.sin(two_pi * t / 4.2 + p[4])
        dy = self.size * (0.004 * math.sin(two_pi * 0.17 * t + p[5]) + 0.003 * breath)
        return angle, dx, dy, 1.0 + 0.004 * breath

    def frame(
        self,
        t: float,
        mouth_open: float = 0.0,
        viseme: str | None = None,
        spread: float | None = None,
    ) -> np.ndarray:
        """The RGB frame (size x size x 3, uint8) at time t with the mouth this open (0..1).

        `viseme` shapes the lips (wide for "I", rounded for "O"); `spread` (-1 rounded .. 1 wide)
        overrides it when given, e.g. a smoothed curve from the utterance.
        """
        mouth_open = float(min(max(mouth_open, 0.0), 1.0))
        if spread is None:
            spread = shape_of(viseme)[1] if viseme else 0.0
        spread = float(min(max(spread, -1.0), 1.0))
        work = self.base.copy()
        if mouth_open > 1e-3 or abs(spread) > 1e-3:
            self._mouth.draw(self.base, work, mouth_open, spread)
        closed = self.blink(t)
        if closed > 1e-3:
            for eye in self._eyes:
                eye.draw(self.base, work, closed)
        angle, dx, dy, scale = self.head_pose(t)
        matrix = cv2.getRotationMatrix2D(self._pivot, angle, scale)
        matrix[0, 2] += dx - self._offset
        matrix[1, 2] += dy - self._offset
        return cv2.warpAffine(
            work,
            matrix,
            (self.size, self.size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT101,
        )

    def face_regions(self) -> dict[str, tuple[int, int, int, int]]:
        """Where the mouth and eyes are in output pixels (x0, y0, x1, y1), before head motion.

        For tests and diagnostics: compare these regions across frames.
        """

        def out(region: _Region) -> tuple[int, int, int, int]:
            o = int(round(self._offset))
            return (region.x0 - o, region.y0 - o, region.x1 - o, region.y1 - o)

        return {
            "mouth": out(self._mouth.region),
            "eye_left": out(self._eyes[0].region),
            "eye_right": out(self._eyes[1].region),
        }
