"""What the consumer does for the turn state's actions (streaming/turns.py): send a frame, cancel
or queue a reply, start, drop or adopt a preemptive reply, stop the avatar, save the user's words,
mark a reply interrupted or started, and log an echo of the avatar that was ignored. Events go in
one at a time, under the turn lock, and each one's actions are performed in order before the next
event is looked at.

A mixin of `SessionConsumer` (it uses the consumer's conversation, turn state, socket and stream).
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.utils import timezone

from conversations.models import Message

from . import cancellation, preemptive, replies
from .error_codes import CODES
from .protocol import error, message
from .turn_events import (
    Action,
    AdoptPreemptiveReply,
    CancelPreemptiveReply,
    CancelReply,
    EnqueueReply,
    Event,
    InterruptAvatar,
    LogEcho,
    MarkAvatarStarted,
    MarkInterrupted,
    ReplyDone,
    SaveUserMessage,
    Send,
    StartPreemptiveReply,
    UserSaved,
)

log = logging.getLogger(__name__)


def wall_clock(seconds: float | None, now, now_seconds: float):
    """The datetime of a `time.time()` mark, given `now` (timezone.now()) read at `now_seconds`
    (time.time()): one reading for all marks of a row keeps their order exact."""
    if not seconds:
        return None
    return now - timedelta(seconds=max(0.0, now_seconds - seconds))


class TurnActionsMixin:
    async def feed(self, event: Event) -> None:
        async with self.turn_lock:
            await self.perform(self.turns.handle(event))

    async def perform(self, actions: list[Action]) -> None:
        """Do what the turn state asked, in order (the lock is held by `feed`)."""
        for action in actions:
            match action:
                case Send(frame=frame):
                    await self.send_json(frame)
                case CancelReply(reply_to=reply_to):
                    await cancellation.cancel(self.conversation.pk, reply_to=reply_to)
                case InterruptAvatar():
                    if self.stream is not None:
                        await self.provider.interrupt(self.stream)
                case SaveUserMessage(source="voice") if await self.refused("voice_turns"):
                    pass  # the utterance is dropped: not saved, not answered
                case SaveUserMessage():
                    saved = await self.save_user_message(action)
                    await self.perform(
                        self.turns.handle(UserSaved(saved.pk, saved.text, saved.source))
                    )
                case EnqueueReply(reply_to=reply_to):
                    await self.enqueue_reply(reply_to)
                case StartPreemptiveReply(number=number, text=text):
                    await preemptive.start(self.conversation.pk, self.preemption(number), text)
                case CancelPreemptiveReply(number=number):
                    await preemptive.cancel(self.conversation.pk, self.preemption(number))
                case AdoptPreemptiveReply(number=number, reply_to=reply_to):
                    if not await preemptive.adopt(self.conversation.pk, self.preemption(number),
                                                  reply_to):
                        await self.enqueue_reply(reply_to)  # its task gave up: answer anew
                case MarkInterrupted(message_id=message_id):
                    await Message.objects.filter(pk=message_id).aupdate(interrupted=True)
                case LogEcho(words=words):
                    log.info("conversation %s: the avatar's own words heard back (%d words): "
                             "ignored as echo", self.conversation.pk, words)
                case MarkAvatarStarted(message_id=message_id):
                    await Message.objects.filter(
                        pk=message_id, avatar_started_at__isnull=True
                    ).aupdate(avatar_started_at=timezone.now())

    def preemption(self, number: int) -> str:
        """A preemptive reply's name, unique to this socket (turn numbers restart with it)."""
        return f"{self.channel_name}/{number}"

    async def save_user_message(self, action: SaveUserMessage) -> Message:
        now, now_seconds = timezone.now(), time.time()
        saved = await Message.objects.acreate(
            conversation=self.conversation,
            role=Message.Role.USER,
            source=action.source,
            text=action.text,
            speech_end_at=wall_clock(action.speech_end, now, now_seconds),
            speculative_final_at=wall_clock(action.speculative_final, now, now_seconds),
            transcript_final_at=now,
        )
        await self.touch(force=True)
        return saved

    async def enqueue_reply(self, reply_to: int) -> None:
        if self.hold_reply(reply_to):
            return  # the stream is being replaced: enqueued once the new one is live
        await self.rejoin()  # the reply is published to the group: be in it
        code = await replies.aenqueue_reply(self.conversation.pk, reply_to)
        if code is None:
            return
        # The broker is down (the channel layer may be too): this socket tells its own page,
        # and the turn stops waiting for a reply that will never start. The socket stays up.
        await self.send_json(error(code, CODES[code].text))
        failed = await Message.objects.filter(reply_to_id=reply_to).afirst()
        if failed is not None:
            done = message("reply.done", message_id=failed.pk, reply_to=reply_to, sentences=0,
                           text=failed.text, interrupted=True, error=failed.error or code)
            await self.perform(self.turns.handle(ReplyDone(
                failed.pk, reply_to, 0, True, done
            )))
