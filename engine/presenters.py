"""The engine's bundled presenters, for D-ID Clips' `presenter_id`: photos that ship with the
engine. NASA's astronaut portrait is public domain and ships with scikit-image, so no download is
needed; the other presenters are framings of it.
"""

from __future__ import annotations

import numpy as np


class UnknownPresenter(KeyError):
    """No bundled presenter has this id."""


def _astronaut() -> np.ndarray:
    from skimage import data  # heavy: scikit-image loads only when a bundled presenter is drawn

    return np.ascontiguousarray(data.astronaut())


def _astronaut_sepia() -> np.ndarray:
    rgb = _astronaut().astype(np.float32)
    sepia = np.array(
        [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], np.float32
    )
    return np.clip(rgb @ sepia.T, 0, 255).astype(np.uint8)


def _astronaut_close() -> np.ndarray:
    # A tighter, mirrored portrait: same person, different framing.
    return np.ascontiguousarray(_astronaut()[20:300, 90:370][:, ::-1])


_PRESENTERS = {
    "local-astronaut": _astronaut,
    "local-astronaut-sepia": _astronaut_sepia,
    "local-astronaut-close": _astronaut_close,
}
DEFAULT_PRESENTER = "local-astronaut"


def presenter_ids() -> list[str]:
    return list(_PRESENTERS)


def presenter_image(presenter_id: str) -> np.ndarray:
    """The RGB photo of a bundled presenter. Raises UnknownPresenter."""
    try:
        make = _PRESENTERS[presenter_id]
    except KeyError:
        raise UnknownPresenter(presenter_id) from None
    return make()
