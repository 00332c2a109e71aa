"""The avatar's provider stream as one live socket holds it: opened after the previous one is
closed (once), under a lock shared by every daphne process, and handed over when another socket
takes the conversation over. So a conversation never has two streams open.

A provider that drops a quiet stream and has no keep-alive call (D-ID: Talks and Clips after 5
minutes, Agents after 2) gets its stream replaced shortly before that, while the socket is
attached: the same way a reconnect does it (old stream closed once, new one opened, a fresh
`rtc.offer` for the page, told first with `stream.replacing`), so the conversation, its history
and the agent's chat carry on. Never while a reply is written or spoken; a reply asked for during
the swap waits for the new stream.

A mixin of `SessionConsumer` (it uses the consumer's conversation, provider and socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.utils import timezone
from redis.exceptions import LockError

from avatars.models import Avatar
from conversations.models import Conversation

from . import close_codes, greeting, llm_warmup, presence, stream_closing, turn_events
from .protocol import error, message
from .providers.errors import ProviderError
from .replies import conversation_stream
from .stream_lifetimes import renewal_due_in, stream_idle_seconds

log = logging.getLogger(__name__)

# What another socket may have changed meanwhile (a refresh of these keeps the avatar cached).
STREAM_FIELDS = ["status", "provider_stream_id", "provider_session_id", "provider_state",
                 "stream_closed_at"]


def own_fields() -> list[str]:
    """The conversation's own columns, without its relations: refreshing these keeps the cached
    avatar, so opening the stream again in the same socket needs no synchronous query."""
    return [f.attname for f in Conversation._meta.concrete_fields if not f.is_relation]


class AvatarStreamMixin:
    stream = None
    superseded = False  # another socket took the conversation over: it owns the stream now
    greeting_task: asyncio.Task | None = None
    stream_used_at = 0.0  # monotonic: when something last went over the stream
    stream_rule: tuple[str, int | None] = ("", None)  # the avatar's provider and session_timeout
    renewing: asyncio.Task | None = None
    stop_renewing: asyncio.Event | None = None
    replacing = False  # a planned replacement is under way: replies wait for the new stream
    held_replies: list[int] = []  # replies asked for meanwhile, enqueued once it is live

    async def open_stream(self) -> None:
        """Close the conversation's previous stream (once) and open ours, under a lock shared by
        every daphne process, so that a conversation never has two streams open."""
        avatar = self.conversation.avatar  # cached here: opening refreshes the conversation
        self.stream_rule = (avatar.provider, avatar.session_timeout)
        lock = presence.stream_lock(self.conversation.pk,
                                    hold_for=4 * settings.PROVIDER_TIMEOUT + 5)
        if not await lock.acquire():
            await self.send_json(error(
                "session_busy", "This conversation is still starting elsewhere; try again."
            ))
            await self.close(code=close_codes.TAKEN_OVER)
            return
        try:
            stream = await self.open_stream_locked()
        except Exception:
            # A bug must not leave the page waiting for an offer that never comes.
            log.exception("conversation %s: opening the stream crashed", self.conversation.pk)
            await self.send_json(error("server_error", "The conversation could not start."))
            await self.finish(Conversation.EndReason.SERVER_ERROR, failed=True, detail="crash")
            await self.close(code=close_codes.NORMAL)
            return
        finally:
            # Released by its timeout already if opening took longer than that: nothing to do.
            with contextlib.suppress(LockError):
                await lock.release()
        if stream is not None:
            await self.offer(stream)
            self.renew_before_end()

    async def open_stream_locked(self):
        conversation = self.conversation
        if await self.taken_over():
            return None  # the socket that took over opens the stream
        await conversation.arefresh_from_db(fields=STREAM_FIELDS)
        if conversation.provider_stream_id and not conversation.stream_closed_at:
            # A reconnect or a takeover: the browser's peer connection is new, so is the stream.
            await self.close_stream()
        started = time.perf_counter()
        try:
            stream = await self.provider.open(conversation.avatar)
        except ProviderError as exc:
            await self.fail(exc, "open the avatar stream")
            return None
        log.info("conversation %s: stream %s opened in %.0f ms", conversation.pk, stream.id,
                 (time.perf_counter() - started) * 1000)
        if await self.taken_over():
            # Never saved, so no one else knows of it: closed here, once.
            with contextlib.suppress(ProviderError):
                await self.provider.close(stream)
            return None
        self.stream = stream
        self.stream_used()
        handles = {
            "provider_stream_id": stream.id,
            "provider_session_id": stream.session_id or "",
            "provider_state": stream.to_dict(),
            "stream_closed_at": None,
        }
        went_live = await Conversation.objects.filter(
            pk=conversation.pk, status__in=Conversation.OPEN_STATUSES
        ).aupdate(status=Conversation.Status.LIVE, last_activity=timezone.now(), **handles)
        if not went_live or self.ended:
            # The conversation ended while the stream was opening: record and close it at once.
            await Conversation.objects.filter(pk=conversation.pk).aupdate(**handles)
            await conversation.arefresh_from_db(fields=own_fields())
            await self.close_stream()
            return None
        await conversation.arefresh_from_db(fields=own_fields())
        await self.feed(turn_events.StreamReady())
        return stream

    async def taken_over(self) -> bool:
        if not self.superseded:
            holder = await presence.holder(self.conversation.pk)
            self.superseded = holder is not None and holder != self.channel_name
        return self.superseded

    async def offer(self, stream) -> None:
        if self.provider.transport == "livekit":
            await self.send_json(
                message("livekit.join", url=stream.extra.get("url"),
                        token=stream.extra.get("access_token"))
            )
            self.start_greeting()  # no answer comes back on LiveKit: the room is the stream
        else:
            ice_servers = list(stream.ice_servers or []) + list(settings.ICE_SERVERS)
            await self.send_json(
                message("rtc.offer", sdp=stream.offer["sdp"], ice_servers=ice_servers)
            )

    # Replacing a stream before its provider drops it -----------------------------------------

    def stream_used(self) -> None:
        """Something was said on the stream (a reply, the avatar speaking): the provider's idle
        clock starts again."""
        self.stream_used_at = time.monotonic()

    def renew_before_end(self) -> None:
        """Watch the stream's quiet time, once per socket, if the provider drops quiet streams."""
        if self.renewing is None and renewal_due_in(*self.stream_rule, 0) is not None:
            self.stop_renewing = asyncio.Event()
            self.renewing = asyncio.create_task(self._renew_when_due())

    async def _renew_when_due(self) -> None:
        try:
            while not (self.ended or self.superseded or self.stop_renewing.is_set()):
                quiet = time.monotonic() - self.stream_used_at
                due_in = renewal_due_in(*self.stream_rule, quiet)
                if due_in is None:
                    return
                if due_in > 0 or not await self._claim_replacement(quiet):  # looked at again then
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.stop_renewing.wait(), max(due_in, 1.0))
                    continue
                try:
                    await self._replace_stream()
                finally:
                    self.replacing = False
                    await self._release_held_replies()
        except Exception:  # a bug: logged here, since nothing awaits this task's result
            log.exception("conversation %s: replacing the stream crashed", self.conversation.pk)

    async def _claim_replacement(self, quiet: float) -> bool:
        """Whether the stream may be replaced now; if so, replies wait from here on. Decided
        under the turn lock, so a reply cannot start between the look and the claim."""
        async with self.turn_lock:
            # Not while a reply is written or spoken; but a stream quiet for its whole limit is
            # gone at the provider whatever our state says (a lost event).
            busy = self.stream is None or (
                (self.turns.reply_running or self.turns.avatar_speaking)
                and quiet < stream_idle_seconds(*self.stream_rule)
            )
            self.replacing = not busy
            return self.replacing

    async def _replace_stream(self) -> None:
        log.info("conversation %s: replacing stream %s before the provider drops it",
                 self.conversation.pk, self.stream.id)
        # The page's old connection is about to drop: it shows "reconnecting", not a failure.
        await self.send_json(message(
            "stream.replacing", message="Renewing the video connection…"
        ))
        # The avatar as it is now (its agent may have been synced again since).
        self.conversation.avatar = await Avatar.objects.select_related(
            "voice", "persona", "managed_agent"
        ).aget(pk=self.conversation.avatar_id)
        await self.open_stream()  # closes the old stream once, offers the new one

    def hold_reply(self, reply_to: int) -> bool:
        """During a replacement a reply would go to the closing stream: it waits (True)."""
        if self.replacing:
            self.held_replies = [*self.held_replies, reply_to]
        return self.replacing

    async def _release_held_replies(self) -> None:
        held, self.held_replies = self.held_replies, []
        for reply_to in held:
            # Cut off meanwhile (barge-in, the session ended): that reply is no longer wanted.
            if not self.ended and self.turns.reply_to == reply_to:
                await self.enqueue_reply(reply_to)

    async def stop_renewing_stream(self) -> None:
        """The socket is leaving: no more replacements; one under way finishes (and is closed
        with the rest), so that no stream is left open at the provider."""
        if self.renewing is None:
            return
        self.stop_renewing.set()
        if not self.renewing.done():
            await asyncio.wait([self.renewing], timeout=4 * settings.PROVIDER_TIMEOUT)

    def start_greeting(self) -> None:
        """Once the stream is live (the page's answer went to the provider, or it said
        stream/ready): the welcome line, once per conversation, in the background, since
        speaking takes a provider call a sentence and the socket must keep answering."""
        if self.greeting_task is None and self.stream is not None and not self.ended:
            self.greeting_task = asyncio.create_task(self._greet())

    async def _greet(self) -> None:
        try:
            await greeting.greet(self.conversation, self.provider)
            # After the greeting's POST, so that reading the prompt does not delay its speech.
            await llm_warmup.request(self.conversation, self.provider)
        except Exception:  # a bug: logged here, since nothing awaits this task's result
            log.exception("conversation %s: greeting crashed", self.conversation.pk)

    async def session_taken_over(self, event: dict) -> None:
        """Another socket took this conversation over: say so and leave, without ending it
        (the new socket closes our stream before it opens its own)."""
        if self.ended:
            return
        self.ended = self.superseded = True
        self.stream = None
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.stop_stt()
        await self.send_json(message(
            "session.ended", reason="taken_over",
            message="This conversation was opened in another window, so it ended here.",
        ))
        await self.close(code=close_codes.TAKEN_OVER)

    async def close_stream(self) -> None:
        conversation = self.conversation
        claimed = await sync_to_async(conversation.claim_stream_close)()
        if not claimed:
            return
        stream = self.stream or conversation_stream(conversation, include_closed=True)
        self.stream = None
        # Confirmed once the provider has closed it; an unreachable provider gets the close
        # retried by the worker (and, failing that, by the reaper), not by this socket.
        await stream_closing.close_claimed(conversation, self.provider, stream)
