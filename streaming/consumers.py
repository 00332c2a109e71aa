"""SessionConsumer: one browser's live conversation. It authorizes, validates and relays; the
reply itself is a Celery task that reports back through the conversation's channel-layer group."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import timedelta

from asgiref.sync import sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from conversations.models import Conversation, Message

from . import cancellation, events, presence
from .pipeline import is_barge_in
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

log = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_ENDED = 4410
CLOSE_TOO_MANY = 4429
TOUCH_EVERY = 5.0  # seconds between last_activity writes: the reaper's clock, cheaply kept


class SessionConsumer(AsyncWebsocketConsumer):
    conversation: Conversation | None = None
    provider = None
    stream = None
    stt = None
    stt_task: asyncio.Task | None = None
    opening: asyncio.Task | None = None

    # Connection ------------------------------------------------------------------------------

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        conversation = await (
            Conversation.objects.owned_by(user)
            .select_related("avatar__voice", "avatar__persona")
            .filter(pk=conversation_id)
            .afirst()
        )
        if conversation is None:  # someone else's or no such conversation: the same answer
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.conversation = conversation
        self.group = events.group_name(conversation.pk)
        self.avatar_speaking = False
        self.reply_to: int | None = None  # the user message whose reply is running
        self.reply_id: int | None = None
        # Between two sentences the avatar is silent but not done: count the talks it finished
        # against the sentences its finished reply sent, so barge-in still reaches it there.
        self.talks_done = 0
        self.talks_sent: int | None = None
        self.utterance: list[str] = []
        self.utterance_end: float | None = None
        self.last_touch = 0.0
        self.chat_times: list[float] = []
        self.ended = False
        await self.accept()
        if not conversation.is_open:
            await self.send_json(
                message("session.ended", reason=conversation.end_reason or "ended",
                        message="This conversation has already ended.")
            )
            await self.close(code=CLOSE_ENDED)
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
            await self.close(code=CLOSE_TOO_MANY)
            return
        await self.channel_layer.group_add(self.group, self.channel_name)
        await presence.attach(conversation.pk, self.channel_name)
        await self.send_json(
            message("session.created", conversation=str(conversation.pk),
                    transport=self.provider.transport)
        )
        # Opening can take seconds (the provider prepares the face); meanwhile the socket keeps
        # answering pings and refusing early frames instead of sitting deaf.
        self.opening = asyncio.create_task(self.open_stream())

    async def open_stream(self) -> None:
        conversation = self.conversation
        if conversation.provider_stream_id and not conversation.stream_closed_at:
            # A reconnect: the browser's peer connection is new, so is the stream.
            await self.close_stream()
        started = time.perf_counter()
        try:
            stream = await self.provider.open(conversation.avatar)
        except ProviderError as exc:
            await self.fail(exc, "open the avatar stream")
            return
        log.info("conversation %s: stream %s opened in %.0f ms", conversation.pk, stream.id,
                 (time.perf_counter() - started) * 1000)
        self.stream = stream
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
            await conversation.arefresh_from_db()
            await self.close_stream()
            return
        await conversation.arefresh_from_db()
        if self.provider.transport == "livekit":
            await self.send_json(
                message("livekit.join", url=stream.extra.get("url"),
                        token=stream.extra.get("access_token"))
            )
        else:
            ice_servers = list(stream.ice_servers or []) + list(settings.ICE_SERVERS)
            await self.send_json(
                message("rtc.offer", sdp=stream.offer["sdp"], ice_servers=ice_servers)
            )

    async def disconnect(self, code: int) -> None:
        if self.conversation is None:
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.stop_stt()
        if not self.ended:
            grace = settings.DISCONNECT_GRACE_SECONDS
            if grace > 0 and self.provider is not None:
                await presence.detach(self.conversation.pk, self.channel_name)
                from .tasks import end_abandoned

                await sync_to_async(end_abandoned.apply_async, thread_sensitive=False)(
                    (str(self.conversation.pk),), countdown=grace
                )
            else:
                await self.finish(Conversation.EndReason.DISCONNECT)
        if self.opening is not None and not self.opening.done():
            # Let a stream that is still being opened finish, so that it is closed, not leaked.
            await asyncio.wait([self.opening], timeout=4 * settings.PROVIDER_TIMEOUT)
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

    async def on_answer(self, msg: ClientMessage) -> None:
        if self.stream is None:
            raise ProtocolError("no_stream", "There is no avatar stream to answer yet.")
        await self.provider.answer(self.stream, msg.data["sdp"])

    async def on_ice(self, msg: ClientMessage) -> None:
        if self.stream is None:
            raise ProtocolError("no_stream", "There is no avatar stream for this candidate.")
        data = msg.data
        await self.provider.add_ice(
            self.stream, data["candidate"], data["sdpMid"], data["sdpMLineIndex"]
        )

    async def on_chat_text(self, msg: ClientMessage) -> None:
        now = time.monotonic()
        self.chat_times = [t for t in self.chat_times if now - t < 60]
        if len(self.chat_times) >= settings.CHAT_MESSAGES_PER_MINUTE:
            raise ProtocolError("rate_limited", "You are sending messages too fast; wait a moment.")
        self.chat_times.append(now)
        await self.user_said(msg.data["text"], Message.Source.TEXT)

    async def on_interrupt(self, msg: ClientMessage) -> None:
        await self.interrupt()

    async def on_avatar_event(self, msg: ClientMessage) -> None:
        event = msg.data["event"]
        if event == "stream/started":
            self.avatar_speaking = True
            if self.reply_id is not None:
                await Message.objects.filter(pk=self.reply_id, avatar_started_at__isnull=True).aupdate(
                    avatar_started_at=timezone.now()
                )
            await self.send_json(message("avatar.state", state="speaking"))
        elif event == "stream/done":
            self.avatar_speaking = False
            self.talks_done += 1
            await self.send_json(message("avatar.state", state="idle"))
        elif event == "stream/error":
            self.avatar_speaking = False
            self.talks_done += 1
            log.warning("conversation %s: avatar stream reported an error", self.conversation.pk)
            await self.send_json(error("avatar_error", "The avatar could not play that reply."))

    async def on_mic_state(self, msg: ClientMessage) -> None:
        if not msg.data["on"]:
            await self.stop_stt()

    async def on_end(self, msg: ClientMessage) -> None:
        closed = msg.data["reason"] == "page_closed"
        reason = Conversation.EndReason.DISCONNECT if closed else Conversation.EndReason.USER
        await self.finish(reason)
        await self.send_json(message("session.ended", reason=reason, message="Conversation ended."))
        await self.close(code=1000)

    async def on_ping(self, msg: ClientMessage) -> None:
        await self.send_json(message("pong", t=msg.data["t"]))

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
        if self.stt is None:
            self.stt = stt_session()
            try:
                await self.stt.start()
            except ProviderError as exc:
                self.stt = None
                log.warning("conversation %s: STT unavailable: %s", self.conversation.pk, exc.message)
                raise
            self.audio_seconds = 0.0
            self.stt_task = asyncio.create_task(self.relay_transcripts(self.stt))
        await self.stt.send(pcm)
        self.audio_seconds += len(pcm) / (2 * 16000)

    async def relay_transcripts(self, stt) -> None:
        try:
            async for event in stt:
                await self.on_transcript(event)
        except ProviderError as exc:
            log.warning("conversation %s: STT failed: %s", self.conversation.pk, exc.message)
            await self.send_json(error(exc.code, exc.message))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("conversation %s: transcript relay crashed", self.conversation.pk)
            await self.send_json(error("stt_error", "Speech recognition stopped unexpectedly."))
        finally:
            if self.stt is stt:
                self.stt = None

    async def on_transcript(self, event) -> None:
        if event.kind == "interim" or (event.kind == "final" and not event.is_final):
            text = " ".join([*self.utterance, event.text]).strip()
            if text:
                await self.send_json(message("transcript.interim", text=text))
                if is_barge_in(avatar_speaking=self.avatar_busy,
                               reply_running=self.reply_to is not None, transcript=event.text):
                    await self.interrupt()
            return
        if event.kind == "final":
            if event.text:
                self.utterance.append(event.text)
                # The microphone streams in real time, so speech ended as many seconds ago as
                # audio was sent after the segment's end.
                lag = self.audio_seconds - (event.start + event.duration)
                self.utterance_end = time.time() - max(0.0, lag)
                if is_barge_in(avatar_speaking=self.avatar_busy,
                               reply_running=self.reply_to is not None, transcript=event.text):
                    await self.interrupt()
            if not event.speech_final:
                return
        elif event.kind != "utterance_end":
            return
        text = " ".join(self.utterance).strip()
        speech_end = self.utterance_end
        self.utterance, self.utterance_end = [], None
        if text:
            await self.user_said(text, Message.Source.VOICE, speech_end=speech_end)

    async def stop_stt(self) -> None:
        stt, self.stt = self.stt, None
        if stt is not None:
            await stt.close()
        if self.stt_task is not None:
            self.stt_task.cancel()
            self.stt_task = None

    # Turns -----------------------------------------------------------------------------------

    async def user_said(self, text: str, source: str, *, speech_end: float | None = None) -> None:
        """Save the user's words, show them, and start the avatar's reply (after cutting off a
        reply that is still running: the user has moved on)."""
        if self.reply_to is not None or self.avatar_busy:
            await self.interrupt()
        now = timezone.now()
        saved = await Message.objects.acreate(
            conversation=self.conversation,
            role=Message.Role.USER,
            source=source,
            text=text,
            speech_end_at=(now - timedelta(seconds=max(0.0, time.time() - speech_end)))
            if speech_end else None,
            transcript_final_at=now,
        )
        await self.touch(force=True)
        await self.send_json(message("transcript.final", text=text, message=saved.pk, source=source))
        self.reply_to = saved.pk
        from .tasks import generate_reply

        # .delay() publishes to the broker over a blocking socket: keep it off the event loop.
        await sync_to_async(generate_reply.delay, thread_sensitive=False)(
            str(self.conversation.pk), saved.pk
        )

    @property
    def avatar_busy(self) -> bool:
        """Speaking, or between two sentences of a written reply it has not finished saying."""
        owed = self.talks_sent is not None and self.talks_done < self.talks_sent
        return self.avatar_speaking or owed

    async def interrupt(self) -> None:
        busy, self.talks_sent = self.avatar_busy, None
        reply_to, self.reply_to = self.reply_to, None
        if reply_to is not None:
            await cancellation.cancel(self.conversation.pk, reply_to=reply_to)
        if self.stream is not None:
            await self.provider.interrupt(self.stream)
            # D-ID streams stop mid-sentence only through the data channel, from the browser.
            await self.send_json(message("avatar.interrupt"))
        if busy and reply_to is None and self.reply_id is not None:
            # The reply was all written (its task is done) but not all said: it was cut short.
            await Message.objects.filter(pk=self.reply_id).aupdate(interrupted=True)
            await self.send_json(message("reply.done", message=self.reply_id, interrupted=True))
        if busy or reply_to is not None:
            self.avatar_speaking = False
            await self.send_json(message("avatar.state", state="idle"))

    async def touch(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self.last_touch > TOUCH_EVERY:
            self.last_touch = now
            await Conversation.objects.filter(pk=self.conversation.pk).aupdate(
                last_activity=timezone.now()
            )

    # From the group (Celery task, reaper) ----------------------------------------------------

    async def relay(self, event: dict) -> None:
        outbound = event["message"]
        kind = outbound["type"]
        if kind == "reply.started":
            self.reply_id = outbound["message"]
            self.talks_done, self.talks_sent = 0, None
        elif kind == "reply.done":
            if self.reply_to == outbound.get("reply_to", self.reply_to):
                self.reply_to = None
            spoken = self.stream is not None and not outbound.get("interrupted")
            if spoken and outbound["message"] == self.reply_id:
                self.talks_sent = outbound.get("sentences")
        elif kind == "session.ended":
            await self.send_json(outbound)
            self.ended = True
            await self.close_stream()
            await self.close(code=1000)
            return
        await self.send_json(outbound)

    # Ending ----------------------------------------------------------------------------------

    async def finish(self, reason: str, *, failed: bool = False, detail: str = "") -> None:
        """End the conversation (once) and close its provider stream (once)."""
        self.ended = True
        await self.stop_stt()
        if self.reply_to is not None:
            await cancellation.cancel(self.conversation.pk, reply_to=self.reply_to)
            self.reply_to = None
        await sync_to_async(self.conversation.end)(reason, failed=failed, detail=detail)
        await self.close_stream()

    async def close_stream(self) -> None:
        conversation = self.conversation
        claimed = await sync_to_async(conversation.claim_stream_close)()
        if not claimed:
            return
        from .replies import conversation_stream

        stream = self.stream or conversation_stream(conversation, include_closed=True)
        self.stream = None
        try:
            await self.provider.close(stream)
        except ProviderError as exc:
            # Retry from a worker with backoff rather than hold up the socket.
            log.warning("conversation %s: closing stream failed (%s); retrying in the background",
                        conversation.pk, exc.code)
            from .tasks import close_stream

            await sync_to_async(close_stream.delay, thread_sensitive=False)(str(conversation.pk))

    async def fail(self, exc: ProviderError, doing: str) -> None:
        log.warning("conversation %s: could not %s: %s %s", self.conversation.pk, doing,
                    exc.code, exc.message)
        await self.send_json(error(exc.code, exc.message))
        await self.finish(Conversation.EndReason.PROVIDER_ERROR, failed=True, detail=exc.message)
        await self.send_json(message("session.ended", reason="provider_error", message=exc.message))
        await self.close(code=1011)

    async def send_json(self, payload: dict) -> None:
        await self.send(text_data=json.dumps(payload))
