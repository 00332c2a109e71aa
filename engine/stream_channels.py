"""Where a stream's data-channel messages go: D-ID's events (``"<event>:<json>"``) and raw
messages, onto whichever channel the client listens to.

The engine offers a channel of its own; D-ID's demos open one of their own a moment later and
listen only there. So messages go to the client's channels once one is open, to ours until then,
and are queued while neither is open. `stream/ready` sent only on ours is repeated on a client
channel that opens later, so a client listening there sees it too.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiortc import RTCDataChannel

log = logging.getLogger(__name__)

# A D-ID-style client opens its own channel a moment after ours; flushing queued events onto
# our channel waits this long so that they land on the channel the client listens to.
PEER_CHANNEL_GRACE = 0.25


class EventChannels:
    """The stream's data channels and the messages waiting for one to open."""

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 on_message: Callable[[str | bytes], None]) -> None:
        self._loop = loop
        self._on_message = on_message
        self._own: RTCDataChannel | None = None
        self._peer: list[RTCDataChannel] = []
        self._outbox: list[str] = []
        self._ready_message: str | None = None
        self._ready_only_on_own = False

    def own(self, channel: RTCDataChannel) -> None:
        """The channel the engine created on its offer."""
        self._own = channel
        self._watch(channel, peer_created=False)

    def peer(self, channel: RTCDataChannel) -> None:
        """A client opened its own channel (D-ID's demos do): messages go there from now on."""
        self._peer.append(channel)
        self._watch(channel, peer_created=True)
        if channel.readyState == "open":
            self._on_peer_open(channel)

    def deliver(self, message: str, *, ready: bool = False) -> None:
        """Send now on the open channels, or queue until one opens. `ready`: the stream/ready
        message, repeated on a client channel that opens after it was sent on ours only."""
        if ready:
            self._ready_message = message
        channels = self._open()
        if not channels:
            self._outbox.append(message)
            return
        for channel in channels:
            _send(channel, message)
        if message is self._ready_message:
            self._ready_only_on_own = channels == [self._own]

    def _open(self) -> list[RTCDataChannel]:
        peer = [c for c in self._peer if c.readyState == "open"]
        if peer:
            return peer
        own = self._own
        return [own] if own is not None and own.readyState == "open" else []

    def _flush(self) -> None:
        if not self._outbox or not self._open():
            return
        queued, self._outbox = self._outbox, []
        for message in queued:
            self.deliver(message)

    def _watch(self, channel: RTCDataChannel, *, peer_created: bool) -> None:
        @channel.on("open")
        def _on_open() -> None:
            if peer_created:
                self._on_peer_open(channel)
            else:
                self._loop.call_later(PEER_CHANNEL_GRACE, self._flush)

        @channel.on("message")
        def _on_message(message: str | bytes) -> None:
            self._on_message(message)

    def _on_peer_open(self, channel: RTCDataChannel) -> None:
        if self._ready_only_on_own:  # a client listening here only must see it too
            _send(channel, self._ready_message)
        self._flush()


def _send(channel: RTCDataChannel, message: str) -> None:
    try:
        channel.send(message)
    except Exception:  # a channel closing under us must not break the talk loop
        log.debug("data channel %s: send failed", channel.label, exc_info=True)
