"""Fixtures for the local engine's tests: the demo face, its landmarks, the Piper voice.

Engine tests run without Django: the project-wide autouse `_media_root` fixture (which needs
Django settings) is replaced here by one that does nothing.
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _media_root():
    """The engine reads no Django settings."""


@pytest.fixture(scope="session")
def astronaut():
    from engine.presenters import presenter_image

    return presenter_image("local-astronaut")


@pytest.fixture(scope="session")
def astronaut_landmarks(astronaut):
    from engine.face import detect_face

    return detect_face(astronaut)


@pytest.fixture(scope="session")
def speaker():
    from engine.tts import Speaker

    return Speaker.load()
