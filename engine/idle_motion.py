"""A face's idle motion: the seamless loop of it at rest (mouth shut; blinks, sway, breathing).

One loop serves both idle renderings, so the page's idle video and the idle WebRTC stream show
the same motion: the WebM a browser loops while the avatar is silent (idle_video.py) and the
pre-encoded VP8 frames replayed on idle streams (idle_loop.py).

The loop is a palindrome, forward for a few seconds and back again, so that its end meets its
start without a jump (sway and breathing simply reverse); the turn is placed away from a blink,
so no blink plays twice in a row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

FORWARD_SECONDS = (2.6, 4.0)  # the forward half's length is chosen within this range


def loop_times(blink: Callable[[float], float], fps: int,
               forward_seconds: tuple[float, float] = FORWARD_SECONDS) -> list[float]:
    """The renderer times of the loop's frames: forward, then back without repeating the ends.

    The forward half ends on the frame within `forward_seconds` farthest from any blink.
    """
    first, last = (max(1, round(s * fps)) for s in forward_seconds)
    closed = [i for i in range(last + fps) if blink(i / fps) > 0]

    def distance(n: int) -> int:
        return min((abs(n - i) for i in closed), default=fps)

    n = max(range(first, last + 1), key=distance)
    forward = [i / fps for i in range(n + 1)]
    return forward + forward[-2:0:-1]


def at_rest(renderer) -> Callable[[float], np.ndarray]:
    """`t -> RGB frame` of the renderer's face with its mouth shut."""
    def render(t: float) -> np.ndarray:
        return renderer.frame(t, 0.0)
    return render


def idle_frames(renderer, *, fps: int, seconds: float | None = None) -> Iterator[np.ndarray]:
    """The loop's RGB frames, one at a time. `seconds` fixes its length (to an even number of
    frames); by default it is the one the idle streams replay (FORWARD_SECONDS, twice)."""
    forward = FORWARD_SECONDS if seconds is None else (seconds / 2, seconds / 2)
    render = at_rest(renderer)
    for t in loop_times(renderer.blink, fps, forward):
        yield render(t)
