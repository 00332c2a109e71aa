"""Which idle loop the live page plays for an avatar, if any.

The avatar's own upload comes first. A D-ID Clips avatar without one may use its presenter's
`idle_video` from the presenter list (D-ID's, or the local engine's, which renders a loop of each
bundled face): the page loads it straight from there, so only a URL a browser may load as it is
is taken, D-ID's https one or the local engine's own address, never one carrying credentials.
Nothing is proxied, so no key ever goes along.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from . import catalog
from .models import Avatar

log = logging.getLogger(__name__)


def idle_video_url(avatar: Avatar) -> str:
    """The URL of the loop the page plays while `avatar` is idle; "" for none."""
    return avatar.uploaded_idle_video_url() or presenter_idle_video(avatar)


def presenter_idle_video(avatar: Avatar) -> str:
    """A Clips avatar's presenter's idle video, from the (cached) presenter list; "" if none."""
    if avatar.provider != Avatar.Provider.DID_CLIPS or not avatar.presenter_id:
        return ""
    listing = catalog.presenters()
    for presenter in listing.items:
        if presenter.presenter_id != avatar.presenter_id:
            continue
        if presenter.idle_video and not playable(presenter.idle_video):
            log.warning("presenter %s: idle video not used (not https, not the engine)",
                        presenter.presenter_id)
            return ""
        return presenter.idle_video
    return ""


def playable(url: str) -> bool:
    """Whether the page may load `url` itself: https, or the local engine's own http address,
    and never with a user or password in it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.hostname or parts.username or parts.password:
        return False
    if parts.scheme == "https":
        return True
    # Function-level: the provider registry (and its clients) load only when a URL is checked.
    from streaming.providers.registry import is_local_engine

    return parts.scheme == "http" and is_local_engine(url)
