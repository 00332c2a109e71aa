"""The microphone side of one live socket: audio is queued (bounded, oldest dropped), pumped to
the speech recogniser, and what the recogniser hears comes back as turn events.

Apart from the consumer so that the socket's receive loop only ever queues a frame and returns:
a slow recogniser must never hold up pings or signaling.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from . import audio, turn_events
from .providers.errors import ProviderError
from .providers.stt.base import SpeechToTextSession, TranscriptEvent

log = logging.getLogger(__name__)

AUDIO_QUEUE_SECONDS = 2.0  # audio waiting for a slow recogniser; older audio is dropped
RETRY_SECONDS = 5.0  # after the recogniser could not be reached, before trying again


class Listener:
    """`hear(pcm)` for each microphone frame; `stop()` when the mic goes off or the socket ends.

    `feed` takes the turn events (under `turn_lock`), `report` an error frame for the page.
    """

    def __init__(
        self,
        label: str,
        *,
        make_session: Callable[[], SpeechToTextSession],
        feed: Callable[[turn_events.Event], Awaitable[None]],
        report: Callable[[str, str], Awaitable[None]],
        turn_lock: asyncio.Lock,
    ) -> None:
        self.label = label
        self.make_session = make_session
        self.feed = feed
        self.report = report
        self.turn_lock = turn_lock
        self.queue = audio.AudioQueue(max_seconds=AUDIO_QUEUE_SECONDS)
        self.stt: SpeechToTextSession | None = None
        self.pump: asyncio.Task | None = None
        self.relay: asyncio.Task | None = None
        self.retry_at = 0.0
        self.background: set[asyncio.Future] = set()  # references, so they are not collected

    async def hear(self, pcm: bytes) -> None:
        """Queue a frame for the recogniser and return at once."""
        if time.monotonic() < self.retry_at:
            return  # the recogniser failed a moment ago; the user was told
        dropped = self.queue.put(pcm)
        if dropped and self.queue.dropped % 50 == dropped:
            log.warning("%s: recogniser behind, %d audio frames dropped so far", self.label,
                        self.queue.dropped)
        if self.pump is None or self.pump.done():
            self.pump = asyncio.create_task(self._pump())

    async def stop(self, *, keep_pump: bool = False) -> None:
        if not keep_pump and self.pump is not None:
            self.pump.cancel()
            self.pump = None
        self.queue.clear()
        stt, self.stt = self.stt, None
        if stt is not None:
            await stt.close()
        if self.relay is not None:
            # Under the turn lock, so the relay is never cut off halfway through an event's
            # actions (a saved message whose reply was never queued).
            async with self.turn_lock:
                if self.relay is not None:
                    self.relay.cancel()
                    self.relay = None

    async def _pump(self) -> None:
        """Feed queued audio to the recogniser, opening it on the first frame."""
        try:
            while True:
                pcm = await self.queue.get()
                if self.stt is None:
                    await self._start()
                await self.stt.send(pcm)
                # Counted as the recogniser gets it, so the turn's audio clock is the
                # recogniser's (whose timestamps skip dropped audio too).
                await self.feed(turn_events.AudioChunk(audio.seconds(pcm),
                                                       voiced=audio.is_voiced(pcm)))
        except ProviderError as exc:
            log.warning("%s: STT unavailable: %s", self.label, exc.message)
            self.retry_at = time.monotonic() + RETRY_SECONDS
            await self.stop(keep_pump=True)
            await self.report(exc.code, exc.message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: audio pump crashed", self.label)
            await self.report("stt_error", "Speech recognition stopped unexpectedly.")

    async def _start(self) -> None:
        stt = self.make_session()
        opening = asyncio.ensure_future(stt.start())
        try:
            await asyncio.shield(opening)
        except asyncio.CancelledError:
            # Stopped while connecting: the session is closed once it is open, not leaked.
            opening.add_done_callback(lambda _: self._in_background(_close_if_opened(opening, stt)))
            raise
        self.stt = stt
        await self.feed(turn_events.ListeningStarted())
        self.relay = asyncio.create_task(self._relay(stt))

    def _in_background(self, coroutine) -> None:
        task = asyncio.ensure_future(coroutine)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def _relay(self, stt: SpeechToTextSession) -> None:
        try:
            async for event in stt:
                await self.feed(turn_event(event))
        except ProviderError as exc:
            log.warning("%s: STT failed: %s", self.label, exc.message)
            await self.report(exc.code, exc.message)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: transcript relay crashed", self.label)
            await self.report("stt_error", "Speech recognition stopped unexpectedly.")
        finally:
            if self.stt is stt:
                self.stt = None


def turn_event(event: TranscriptEvent) -> turn_events.Event:
    """The turn event for what the recogniser heard."""
    if event.kind == "interim" or (event.kind == "final" and not event.is_final):
        return turn_events.Interim(event.text, audio_end=event.start + event.duration)
    if event.kind == "final":
        return turn_events.Final(event.text, event.speech_final,
                                 audio_end=event.start + event.duration, now=time.time())
    if event.kind == "utterance_end":
        return turn_events.UtteranceEnd()
    return turn_events.SpeechStarted(at=event.start)


async def _close_if_opened(opening: asyncio.Future, stt: SpeechToTextSession) -> None:
    if not opening.cancelled() and opening.exception() is None:
        await stt.close()
