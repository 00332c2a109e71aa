"""When does the sound start, and when does the mouth start to move, in decoded media?

Audio: the first 5 ms window whose RMS is above -40 dBFS (the engine's silence is digital zero,
so this is where the voice starts, give or take a soft first consonant).
Mouth: the change of the luma inside the renderer's mouth box from one decoded frame to the
next, after taking out the head's sway (see `motion`); an opening mouth changes it several times
more than idle frames do. The threshold is set from idle frames of the same stream (so codec
noise is accounted for).

Both detectors see a mouth that opens gradually and a voice that starts softly, so their onsets
carry a bias of their own; benchmarks run the same detectors on an ideal rendering of the same
utterance (no transport, exact timing) and report the difference as well.
"""

from __future__ import annotations

import numpy as np

SILENCE_DBFS = -40.0
WINDOW_SECONDS = 0.005
MIN_MOTION = 2.0  # mean luma change (0..255) that counts as movement even on a clean stream


def audio_onsets(samples: np.ndarray, rate: int) -> tuple[int | None, int | None]:
    """(first, last) sample index of windows louder than SILENCE_DBFS, or (None, None)."""
    window = max(1, int(rate * WINDOW_SECONDS))
    usable = len(samples) // window * window
    if usable == 0:
        return None, None
    frames = samples[:usable].astype(np.float64).reshape(-1, window) / 32768.0
    rms = np.sqrt((frames**2).mean(axis=1))
    loud = np.flatnonzero(rms > 10 ** (SILENCE_DBFS / 20))
    if len(loud) == 0:
        return None, None
    return int(loud[0] * window), int((loud[-1] + 1) * window)


def motion(lumas: list[np.ndarray]) -> np.ndarray:
    """Per frame, how much the mouth box changed since the previous decoded frame (0 first).

    The head's sway is taken out first: the previous box is shifted by the translation that
    phase correlation finds between the two (the static skin, chin and collar dominate it; an
    opening mouth is not a translation), then the mean absolute luma difference is taken away
    from the borders. Frames the sender skipped (a starved engine stays real-time by skipping)
    then no longer look like movement: idle change stays under ~1.5 even six frames apart, while
    a mouth opening by a fifth changes the box by ~3.5.
    """
    import cv2

    out = np.zeros(len(lumas))
    if len(lumas) < 2:
        return out
    height, width = lumas[0].shape
    window = cv2.createHanningWindow((width, height), cv2.CV_32F)
    margin = max(2, min(height, width) // 25)
    for i in range(1, len(lumas)):
        previous, current = lumas[i - 1].astype(np.float32), lumas[i].astype(np.float32)
        (dx, dy), _ = cv2.phaseCorrelate(previous, current, window)
        shift = np.float32([[1, 0, dx], [0, 1, dy]])
        moved = cv2.warpAffine(previous, shift, (width, height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        out[i] = float(np.abs(moved - current)[margin:-margin, margin:-margin].mean())
    return out


def motion_threshold(idle: np.ndarray, talking: np.ndarray | None = None) -> float:
    """Movement means clearly above what idle frames of this stream show, and (when the frames
    of the talk are given) at least 30 % of the talk's typical strong movement, so a clean
    rendering and a noisy decoded stream are held to the same relative standard."""
    threshold = MIN_MOTION
    if len(idle):
        # The 90th percentile: a keyframe or a late burst of frames now and then must not lift
        # the bar above what an opening mouth does (single odd frames are rejected anyway).
        threshold = max(threshold, 1.5 * float(np.percentile(idle, 90)) + 1.0)
    if talking is not None and len(talking):
        threshold = max(threshold, 0.3 * float(np.percentile(talking, 95)))
    return threshold


def first_and_last_above(values: np.ndarray, threshold: float,
                         start: int = 0) -> tuple[int | None, int | None]:
    """First and last frame (from `start`) of sustained movement: above the threshold, with at
    least 3 of the 4 frames from there (backwards, for the last) above 60 % of it. One odd
    frame (a codec hiccup, a late keyframe) is not speech."""
    above = values > threshold
    near = values > 0.6 * threshold
    first = last = None
    for i in range(start, len(values)):
        if above[i] and near[i : i + 4].sum() >= 3:
            first = i
            break
    for i in range(len(values) - 1, start - 1, -1):
        if above[i] and near[max(start, i - 3) : i + 1].sum() >= 3:
            last = i
            break
    if first is None or last is None or last < first:
        return None, None
    return first, last
