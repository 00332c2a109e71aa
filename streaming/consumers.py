"""SessionConsumer: one browser's live conversation. It authorizes, validates and relays; the
reply itself is a Celery task that reports back through the conversation's channel-layer group."""

from __future__ import annotations

import asyncio
import json
import logging
import time

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from avatars.languages import stt_options_for
from conversations.models import Conversation

from . import close_codes, events, presence, quota_store, quotas, reply_watch, turn_events, turns
from .avatar_stream import AvatarStreamMixin
from .listening import Listener
from .liveavatar_replies import save_transcript
from .protocol import (
    ClientMessage,
    ProtocolError,
    check_audio_frame,
    error,
    message,
    parse_text_frame,
)
from .providers.errors import ProviderError
from .providers.registry import avatar_provider_for, stt_session
from .tasks import end_abandoned
from .turn_actions import TurnActionsMixin

log = logging.getLogger(__name__)

# Seconds between last_activity writes (pings, audio, avatar events and turns all count): the
# reaper's clock, cheaply kept, so a user who listens or talks is never reaped.
TOUCH_EVERY = 15.0


class SessionConsumer(TurnActionsMixin, AvatarStreamMixin, AsyncWebsocketConsumer):
    conversation: Conversation | None = None
    provider = None
    listener: Listener | None = None
    opening: asyncio.Task | None = None
    gone = False  # the socket has closed: nothing may attach the conversation to it again

    # Connection ------------------------------------------------------------------------------

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=close_codes.UNAUTHENTICATED)
            return
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        conversation = await (
            Conversation.objects.owned_by(user)
            .select_related("avatar__voice", "avatar__persona", "avatar__managed_agent")
            .filter(pk=conversation_id)
            .afirst()
        )
        if conversation is None:  # someone else's or no such conversation: the same answer
            await self.close(code=close_codes.NOT_FOUND)
            return
        self.conversation = conversation
        self.group = events.group_name(conversation.pk)
        self.turns = turns.Turns()
        # Events come from the socket and from the transcript relay task: one at a time, each
        # one's actions performed before the next is looked at.
        self.turn_lock = asyncio.Lock()
        self.last_touch = 0.0
        stt_options = stt_options_for(conversation.avatar)  # recognise the avatar's language
        self.listener = Listener(
            f"conversation {conversation.pk}",
            # stt_session is looked up when called: tests replace it.
            make_session=lambda: stt_session(**stt_options),
            feed=self.feed,
            report=lambda code, text: self.send_json(error(code, text)),
            turn_lock=self.turn_lock,
        )
        self.audio_meter = quotas.AudioMeter()
        self.audio_refused_until = 0.0
        self.ended = False
        await self.accept()
        if not conversation.is_open:
            await self.send_json(
                message("session.ended", reason=conversation.end_reason or "ended",
                        message="This conversation has already ended.")
            )
            await self.close(code=close_codes.ENDED)
            return
        self.provider = avatar_provider_for(conversation.avatar)
        others = await (
            Conversation.objects.owned_by(user).live().exclude(pk=conversation.pk).acount()
        )
        if others >= settings.MAX_LIVE_SESSIONS_PER_USER:
            await self.send_json(error(
                "session_limit",
                f"You already have {others} live conversations open. End one to start another.",
            ))
            await self.finish(Conversation.EndReason.SERVER_ERROR, failed=True, detail="session limit")
            await self.close(code=close_codes.TOO_MANY)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        previous = await presence.take(conversation.pk, self.channel_name)
        if previous is not None:
            # That socket (maybe on another daphne process) leaves; its stream is closed below,
            # under the stream lock, before ours is opened.
            log.info("conversation %s: taken over from %s", conversation.pk, previous)
            await self.channel_layer.send(previous, {"type": "session.taken_over"})
        await self.send_json(
            message("session.created", conversation=str(conversation.pk),
                    transport=self.provider.transport)
        )
        # Opening can take seconds (the provider prepares the face); meanwhile the socket keeps
        # answering pings and refusing early frames instead of sitting deaf.
        self.opening = asyncio.create_task(self.open_stream())

    async def disconnect(self, code: int) -> None:
        if self.conversation is None:
            return
        self.gone = True
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.stop_stt()
        await self.stop_renewing_stream()
        if not self.ended and not await self.taken_over():
            grace = settings.DISCONNECT_GRACE_SECONDS
            if grace > 0 and self.provider is not None:
                await presence.detach(self.conversation.pk, self.channel_name)
                await sync_to_async(end_abandoned.apply_async, thread_sensitive=False)(
                    (str(self.conversation.pk),), countdown=grace
                )
            else:
                await self.finish(Conversation.EndReason.DISCONNECT)
        if self.opening is not None and not self.opening.done():
            # Let a stream that is still being opened finish, so that it is closed, not leaked.
            await asyncio.wait([self.opening], timeout=4 * settings.PROVIDER_TIMEOUT)
        if self.greeting_task is not None and not self.greeting_task.done():
            # Its provider calls use the provider's client, closed below.
            await asyncio.wait([self.greeting_task], timeout=4 * settings.PROVIDER_TIMEOUT)
        if self.provider is not None:
            await self.provider.aclose()

    # Inbound ---------------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.ended:
            return
        try:
            if bytes_data is not None:
                await self.on_audio(check_audio_frame(bytes_data))
                return
            parsed = parse_text_frame(text_data or "")
            await self.HANDLERS[parsed.type](self, parsed)
        except ProtocolError as exc:
            log.info("conversation %s: refused frame: %s", self.conversation.pk, exc.code)
            await self.send_json(exc.as_message())
        except ProviderError as exc:
            log.warning("conversation %s: provider error %s: %s", self.conversation.pk,
                        exc.code, exc.message)
            await self.send_json(error(exc.code, exc.message))
        except Exception:
            # A bug, not bad input (that is a ProtocolError): logged with its traceback here,
            # and the socket (with the conversation and its stream) lives on.
            log.exception("conversation %s: a frame could not be handled", self.conversation.pk)
            await self.send_json(error("server_error", "That message could not be handled."))

    async def on_answer(self, msg: ClientMessage) -> None:
        if self.stream is None:
            raise ProtocolError("no_stream", "There is no avatar stream to answer yet.")
        if await self.refused("signaling"):
            return
        await self.provider.answer(self.stream, msg.data["sdp"])
        self.start_greeting()

    async def on_ice(self, msg: ClientMessage) -> None:
        if self.stream is None:
            raise ProtocolError("no_stream", "There is no avatar stream for this candidate.")
        if await self.refused("signaling"):
            return
        data = msg.data
        await self.provider.add_ice(
            self.stream, data["candidate"], data["sdpMid"], data["sdpMLineIndex"]
        )

    async def on_chat_text(self, msg: ClientMessage) -> None:
        if await self.refused("chat_turns"):
            return  # refused before anything is cut off: the avatar goes on speaking
        await self.feed(turn_events.UserTyped(msg.data["text"]))

    async def on_interrupt(self, msg: ClientMessage) -> None:
        await self.feed(turn_events.InterruptRequested())

    async def on_avatar_event(self, msg: ClientMessage) -> None:
        await self.touch()
        await self.rejoin(catch_up=True)  # a reply is being spoken: its frames must reach us
        event = msg.data["event"]
        if event in ("stream/started", "stream/done"):
            self.stream_used()  # the avatar spoke: the provider's idle clock starts again
        if event == "stream/ready":
            self.start_greeting()
        elif event == "stream/started":
            await self.feed(turn_events.AvatarStarted())
        elif event == "avatar.transcription":  # LiveAvatar FULL mode: the words its LLM wrote
            await save_transcript(self.conversation, self.provider, msg.data["text"])
        elif event in ("stream/done", "stream/error"):
            if event == "stream/error":
                log.warning("conversation %s: avatar stream reported an error", self.conversation.pk)
            await self.feed(turn_events.AvatarDone(failed=event == "stream/error"))

    async def on_mic_state(self, msg: ClientMessage) -> None:
        if not msg.data["on"]:
            await self.stop_stt()
            await self.feed(turn_events.MicOff())

    async def on_end(self, msg: ClientMessage) -> None:
        closed = msg.data["reason"] == "page_closed"
        reason = Conversation.EndReason.DISCONNECT if closed else Conversation.EndReason.USER
        await self.finish(reason)
        await self.send_json(message("session.ended", reason=reason, message="Conversation ended."))
        await self.close(code=close_codes.NORMAL)

    async def on_ping(self, msg: ClientMessage) -> None:
        await self.send_json(message("pong", t=msg.data["t"]))
        await self.touch()  # the page pings while it is open: its user is still there
        await self.rejoin(catch_up=True)

    HANDLERS = {
        "rtc.answer": on_answer,
        "rtc.ice": on_ice,
        "chat.text": on_chat_text,
        "avatar.interrupt": on_interrupt,
        "avatar.event": on_avatar_event,
        "mic.state": on_mic_state,
        "session.end": on_end,
        "ping": on_ping,
    }

    # Speech ----------------------------------------------------------------------------------

    async def on_audio(self, pcm: bytes) -> None:
        await self.touch()
        if time.monotonic() < self.audio_refused_until:
            return  # today's audio is used up: the user was told once
        ms = self.audio_meter.add(len(pcm))
        if ms and await self.refused("audio_ms", ms):
            # One error, not one a frame: frames are dropped until the budget renews.
            self.audio_refused_until = time.monotonic() + self.last_refusal.retry_after
            await self.stop_stt()
            return
        await self.listener.hear(pcm)

    async def stop_stt(self) -> None:
        if self.listener is not None:
            await self.listener.stop()

    # Quotas ----------------------------------------------------------------------------------

    last_refusal: quotas.Refusal | None = None

    async def refused(self, quota: str, amount: int = 1) -> bool:
        """Count a use of the user's `quota` (in Redis, across sockets); when it is used up,
        tell the page with the quota's own code and return True."""
        refusal = await quota_store.spend(self.scope["user"].pk, quota, amount)
        if refusal is None:
            return False
        self.last_refusal = refusal
        log.info("conversation %s: %s refused: %s", self.conversation.pk, quota, refusal.code)
        await self.send_json(refusal.as_error())
        return True

    async def touch(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_touch > TOUCH_EVERY:
            self.last_touch = now
            await Conversation.objects.filter(pk=self.conversation.pk).aupdate(
                last_activity=timezone.now()
            )

    async def rejoin(self, *, catch_up: bool = False) -> None:
        """Back into the group and the presence key, if a Redis restart dropped them; with
        `catch_up` (not under the turn lock), also the reply.done missed meanwhile. Never once
        the socket has closed: a background task (the opening stream, the greeting) re-attaching
        a gone socket would keep `end_abandoned` from ever ending the conversation."""
        if self.gone:
            return
        lost = await presence.rejoin(self.channel_layer, self.group, self.conversation.pk,
                                     self.channel_name)
        reply_to = self.turns.reply_to
        if lost and catch_up and reply_to is not None:
            done = await reply_watch.missed_done(reply_to)
            if done is not None:
                await self.feed(turn_events.ReplyDone(done["message_id"], reply_to, None,
                                                      done["interrupted"], done))

    # From the group (Celery task, reaper) ----------------------------------------------------

    async def relay(self, event: dict) -> None:
        outbound = event["message"]
        kind = outbound["type"]
        if kind in ("reply.started", "reply.done"):
            self.stream_used()  # a reply goes over the stream
        if kind == "reply.started":
            await self.feed(turn_events.ReplyStarted(
                outbound["message_id"], outbound.get("reply_to"), outbound,
            ))
            return
        if kind == "reply.delta":  # the avatar's words: the turn state tells its echo by them
            await self.feed(turn_events.ReplyDelta(outbound["message_id"], outbound["text"],
                                                   outbound))
            return
        if kind == "reply.done":
            await self.feed(turn_events.ReplyDone(
                outbound["message_id"], outbound.get("reply_to"), outbound.get("sentences"),
                bool(outbound.get("interrupted")), outbound,
            ))
            return
        if kind == "session.ended":
            await self.send_json(outbound)
            self.ended = True
            await self.close_stream()
            await self.close(code=close_codes.NORMAL)
            return
        await self.send_json(outbound)

    # Ending ----------------------------------------------------------------------------------

    async def finish(self, reason: str, *, failed: bool = False, detail: str = "") -> None:
        """End the conversation (once) and close its provider stream (once)."""
        self.ended = True
        await self.stop_stt()
        await self.feed(turn_events.SessionEnding())
        await sync_to_async(self.conversation.end)(reason, failed=failed, detail=detail)
        await self.close_stream()

    async def fail(self, exc: ProviderError, doing: str) -> None:
        log.warning("conversation %s: could not %s: %s %s", self.conversation.pk, doing,
                    exc.code, exc.message)
        await self.send_json(error(exc.code, exc.message))
        await self.finish(Conversation.EndReason.PROVIDER_ERROR, failed=True, detail=exc.message)
        await self.send_json(message("session.ended", reason="provider_error", message=exc.message))
        await self.close(code=close_codes.STREAM_FAILED)

    async def send_json(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload))

