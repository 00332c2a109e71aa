"""The state of one conversation's turn-taking, as a pure object: events in, actions out.

No I/O, no Django, no asyncio: the consumer turns frames and transcripts into events (defined in
streaming/turn_events.py), feeds them to `Turns.handle`, and performs the actions it gets back, in
order. Everything that decides *what happens* in a turn (barge-in, the avatar's own words heard
back, a stale `reply.done`, a mute mid-utterance, assembling an utterance from recogniser events)
is here and is unit-tested without sockets.

One writer per fact: the Celery task is the only writer of `reply.done` (the reply's text is
complete); this object is the only one that decides a reply was cut off while the avatar was
saying it (`MarkInterrupted` + the `reply.interrupted` frame), and the only one that cancels a
running reply (`CancelReply`).
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field

from . import echo
from .barge_in import AUDIO_HISTORY_S, Onset, judge_onset
from .turn_events import (
    Action,
    AdoptPreemptiveReply,
    AudioChunk,
    AvatarDone,
    AvatarStarted,
    CancelPreemptiveReply,
    CancelReply,
    EnqueueReply,
    Event,
    Final,
    Interim,
    InterruptAvatar,
    InterruptRequested,
    ListeningStarted,
    LogEcho,
    MarkAvatarStarted,
    MarkInterrupted,
    MicOff,
    ReplyDelta,
    ReplyDone,
    ReplyStarted,
    SaveUserMessage,
    Send,
    SessionEnding,
    SpeechStarted,
    StartPreemptiveReply,
    StreamReady,
    UserSaved,
    UserTyped,
    UtteranceEnd,
    frame,
)

_FILLERS = {"uh", "um", "mm", "hmm", "mhm", "ah", "eh", "oh", "er"}


def has_words(transcript: str) -> bool:
    """Real words, not filler ("uh", "mm"): so a cough transcribed as "hmm" does not barge in."""
    return any(w not in _FILLERS for w in words_of(transcript))


def words_of(transcript: str) -> list[str]:
    """The words alone: case, punctuation and spacing are the recogniser's, not the speaker's."""
    return re.findall(r"[\w']+", transcript.lower())


def sounds_finished(transcript: str) -> bool:
    """Ends a sentence ("... the moon?"), not trailing off ("and...") or cut mid-clause."""
    text = transcript.rstrip()
    return has_words(text) and text.endswith((".", "?", "!")) and not text.endswith("..")


# The state machine -------------------------------------------------------------------------


@dataclass
class Turns:
    has_stream: bool = False
    avatar_speaking: bool = False
    reply_to: int | None = None  # the user message whose reply is being written
    reply_id: int | None = None  # the newest reply the page was told about
    said_reply: int | None = None  # a reply all written, which the avatar has not finished saying
    # Between two sentences the avatar is silent but not done: the talks it finished, counted
    # against the sentences its written reply sent, keep barge-in reaching it there.
    talks_sent: int | None = None
    talks_done: int = 0
    utterance: list[str] = field(default_factory=list)
    utterance_end: float | None = None
    # The utterance's words at its latest speculative final, and when that came (wall clock).
    speculative: tuple[list[str], float] | None = None
    audio_seconds: float = 0.0
    onset: float | None = None  # voice onset not yet judged (streaming/barge_in.py)
    # The preemptive reply answering the utterance so far (number, words); how many were started.
    preempted: tuple[int, str] | None = None
    preemptions: int = 0
    # What the avatar says or said last (the adopted reply's text), and where the audio clock
    # was when it went quiet: a transcript of its own words heard back is echo (streaming/echo.py).
    said: str = ""
    quiet_at: float | None = None
    _audio: deque = field(default_factory=deque)  # (start, seconds, voiced) of recent chunks

    @property
    def avatar_busy(self) -> bool:
        """Speaking, or between two sentences of a written reply it has not finished saying."""
        owed = self.talks_sent is not None and self.talks_done < self.talks_sent
        return self.avatar_speaking or owed

    @property
    def reply_running(self) -> bool:
        return self.reply_to is not None

    def handle(self, event: Event) -> list[Action]:
        handler = getattr(self, f"_on_{type(event).__name__}")
        return handler(event)

    # The user ---------------------------------------------------------------------------

    def _on_UserTyped(self, event: UserTyped) -> list[Action]:
        return [*self._drop_preemption(), *self._cut_off(), SaveUserMessage(event.text, "text")]

    def _on_UserSaved(self, event: UserSaved) -> list[Action]:
        self.reply_to = event.message_id
        shown = frame("transcript.final", text=event.text, message_id=event.message_id,
                      source=event.source)
        preempted = self.preempted
        if (preempted is not None and event.source == "voice"
                and words_of(preempted[1]) == words_of(event.text)):
            self.preempted = None
            return [shown, AdoptPreemptiveReply(preempted[0], event.message_id)]
        return [shown, *self._drop_preemption(), EnqueueReply(event.message_id)]

    def _on_InterruptRequested(self, event: InterruptRequested) -> list[Action]:
        return self._cut_off(explicit=True)

    def _on_SessionEnding(self, event: SessionEnding) -> list[Action]:
        reply_to, self.reply_to = self.reply_to, None
        self.utterance, self.utterance_end, self.onset = [], None, None
        actions = self._drop_preemption()
        return [*actions, CancelReply(reply_to)] if reply_to is not None else actions

    def _on_StreamReady(self, event: StreamReady) -> list[Action]:
        self.has_stream = True
        return []

    # Speech -----------------------------------------------------------------------------

    def _on_ListeningStarted(self, event: ListeningStarted) -> list[Action]:
        self.audio_seconds, self.onset, self.quiet_at = 0.0, None, None
        self._audio.clear()
        return []

    def _on_AudioChunk(self, event: AudioChunk) -> list[Action]:
        self._audio.append((self.audio_seconds, event.seconds, event.voiced))
        self.audio_seconds += event.seconds
        while self._audio and self._audio[0][0] < self.audio_seconds - AUDIO_HISTORY_S:
            self._audio.popleft()
        return self._judge_onset()

    def _on_SpeechStarted(self, event: SpeechStarted) -> list[Action]:
        if not (self.avatar_busy or self.reply_running):
            return []
        self.onset = event.at
        return self._judge_onset()

    def _judge_onset(self) -> list[Action]:
        """A long enough run of voice since the onset is the user talking over the avatar
        (streaming/barge_in.py); once judged, the onset is forgotten."""
        if self.onset is None:
            return []
        verdict = judge_onset(self._audio, self.onset)
        if verdict is not Onset.UNDECIDED:
            self.onset = None
        return self._cut_off() if verdict is Onset.SPEECH else []

    def _on_Interim(self, event: Interim) -> list[Action]:
        text = " ".join([*self.utterance, event.text]).strip()
        if not text or self._is_echo(event.text, event.audio_end):
            return []  # an echo is neither shown nor heeded; its final is logged
        actions: list[Action] = [frame("transcript.interim", text=text)]
        if has_words(event.text):  # the user goes on: an answer to fewer words is not wanted
            actions += [*self._drop_preemption(), *self._cut_off()]
        return actions

    def _on_Final(self, event: Final) -> list[Action]:
        if self._is_echo(event.text, event.audio_end):
            # Not part of the utterance; the pause after it still ends the user's words before it.
            logged: list[Action] = [LogEcho(len(words_of(event.text)))]
            return [*logged, *self._end_utterance()] if event.speech_final else logged
        actions: list[Action] = []
        if event.text:
            self.utterance.append(event.text)
            # The microphone streams in real time, so speech ended as many seconds ago as
            # audio was sent after the segment's end.
            self.utterance_end = event.now - max(0.0, self.audio_seconds - event.audio_end)
            if has_words(event.text):
                actions += self._cut_off()
            if not event.speech_final:
                self.speculative = (words_of(" ".join(self.utterance)), event.now)
        if event.speech_final:
            actions += self._end_utterance()
        elif event.text:
            actions += self._preempt()
        return actions

    def _on_UtteranceEnd(self, event: UtteranceEnd) -> list[Action]:
        return self._end_utterance()

    def _on_MicOff(self, event: MicOff) -> list[Action]:
        """Muting ends the utterance: the words already final were said to the avatar (push to
        talk), so they are answered now, and nothing is carried over to the next one."""
        self.onset = None
        self._audio.clear()
        return self._end_utterance()

    def _end_utterance(self) -> list[Action]:
        text = " ".join(self.utterance).strip()
        speech_end = self.utterance_end
        # The speculative final counts when it already had the words that are saved.
        known = self.speculative[1] if self.speculative and self.speculative[0] == words_of(
            text) else None
        self.utterance, self.utterance_end, self.speculative = [], None, None
        actions: list[Action] = []
        if self.preempted is not None and words_of(self.preempted[1]) != words_of(text):
            actions += self._drop_preemption()  # adopted (or not) once the words are saved
        if not text:
            return actions
        return [*actions, *self._cut_off(), SaveUserMessage(text, "voice", speech_end, known)]

    def _preempt(self) -> list[Action]:
        """A speculative final: start answering the utterance so far if it sounds finished;
        drop an answer to fewer words."""
        text = " ".join(self.utterance).strip()
        if not sounds_finished(text):
            return self._drop_preemption()
        if self.preempted is not None and words_of(self.preempted[1]) == words_of(text):
            return []
        actions = self._drop_preemption()
        self.preemptions += 1
        self.preempted = (self.preemptions, text)
        return [*actions, StartPreemptiveReply(self.preemptions, text)]

    def _drop_preemption(self) -> list[Action]:
        preempted, self.preempted = self.preempted, None
        return [CancelPreemptiveReply(preempted[0])] if preempted is not None else []

    # The reply and the avatar -----------------------------------------------------------

    def _on_ReplyStarted(self, event: ReplyStarted) -> list[Action]:
        if event.reply_to == self.reply_to:
            self.reply_id, self.said_reply = event.message_id, None
            self.talks_done, self.talks_sent = 0, None
            self.said = ""
        # A reply to a question already cut off started late: shown, and it ends at once.
        return [Send(event.frame)]

    def _on_ReplyDelta(self, event: ReplyDelta) -> list[Action]:
        if event.message_id == self.reply_id:  # not a late piece of a reply cut off before
            # Bounded: only the newest echo.SAID_WORDS words are compared, and words are short.
            self.said = (self.said + event.text)[-10 * echo.SAID_WORDS:]
        return [Send(event.frame)]

    def _on_ReplyDone(self, event: ReplyDone) -> list[Action]:
        # A late or repeated reply.done (of this reply or an older one) changes nothing.
        if event.reply_to is None or event.reply_to != self.reply_to:
            return [Send(event.frame)]
        self.reply_to = None
        if (self.has_stream and not event.interrupted and event.message_id == self.reply_id
                and event.sentences):
            self.talks_sent = event.sentences
            self.said_reply = event.message_id if self.avatar_busy else None
        return [Send(event.frame)]

    def _on_AvatarStarted(self, event: AvatarStarted) -> list[Action]:
        self.avatar_speaking = True
        actions: list[Action] = []
        if self.reply_id is not None:
            actions.append(MarkAvatarStarted(self.reply_id))
        return [*actions, frame("avatar.state", state="speaking")]

    def _on_AvatarDone(self, event: AvatarDone) -> list[Action]:
        self.avatar_speaking = False
        self.talks_done += 1
        self.quiet_at = self.audio_seconds
        if not self.avatar_busy:
            self.said_reply = None  # said to the end
        actions: list[Action] = [frame("avatar.state", state="idle")]
        if event.failed:
            actions.append(frame("error", code="avatar_error",
                                 message="The avatar could not play that reply."))
        return actions

    # Barge-in ---------------------------------------------------------------------------

    def _cut_off(self, *, explicit: bool = False) -> list[Action]:
        """The user has moved on: cancel the reply being written, stop the avatar, and record a
        written reply it had not finished saying as interrupted. Does nothing when idle."""
        busy, running = self.avatar_busy, self.reply_running
        if not (busy or running or explicit):
            return []
        actions: list[Action] = []
        if running:
            actions.append(CancelReply(self.reply_to))
        if self.has_stream:
            # D-ID streams stop mid-sentence only through the data channel, from the browser.
            actions += [InterruptAvatar(), frame("avatar.interrupt")]
        if busy and not running and self.said_reply is not None:
            actions += [MarkInterrupted(self.said_reply),
                        frame("reply.interrupted", message_id=self.said_reply)]
        if busy or running:
            actions.append(frame("avatar.state", state="idle"))
            self.quiet_at = self.audio_seconds
        self.reply_to, self.talks_sent, self.said_reply = None, None, None
        self.avatar_speaking, self.onset = False, None
        return actions

    # Echo ---------------------------------------------------------------------------------

    def _is_echo(self, transcript: str, heard_until: float) -> bool:
        """The avatar's own words, heard back while it could be heard: speaking, between the
        sentences of its reply, or just gone quiet (`heard_until`: where the transcript's audio
        ends, on the audio clock). Not while a reply is only being written: the avatar is
        silent then, and `said` may still be the last reply, which the user may quote."""
        just_quiet = self.quiet_at is not None and heard_until <= self.quiet_at + echo.TAIL_S
        if not self.said or not (self.avatar_busy or just_quiet):
            return False
        heard = [w for w in words_of(transcript) if w not in _FILLERS]
        return echo.is_echo(heard, words_of(self.said)[-echo.SAID_WORDS:])
