"""What the turn state (streaming/turns.py) takes and gives: events in, actions out.

Events are what happened (a frame, a transcript, the task's reply frames, the avatar's state);
actions are what the consumer must do about them, in order (streaming/turn_actions.py performs
them). Plain frozen dataclasses, so a test can build and compare them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Events ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamReady:
    """The provider stream is open: the avatar can speak (and be interrupted)."""


@dataclass(frozen=True)
class UserTyped:
    text: str


@dataclass(frozen=True)
class ListeningStarted:
    """A new recognition session: its audio clock starts at zero."""


@dataclass(frozen=True)
class AudioChunk:
    seconds: float
    voiced: bool


@dataclass(frozen=True)
class SpeechStarted:
    """The recogniser heard voice begin at `at` seconds into this session's audio."""

    at: float


@dataclass(frozen=True)
class Interim:
    """A guess at the words of the stretch of audio ending `audio_end` seconds into the
    session's audio; it may still change."""

    text: str
    audio_end: float = 0.0


@dataclass(frozen=True)
class Final:
    """A stretch of audio transcribed for good; `speech_final`: the speaker paused after it.
    `audio_end` is where it ends in the session's audio, `now` the wall clock (seconds)."""

    text: str
    speech_final: bool
    audio_end: float = 0.0
    now: float = 0.0


@dataclass(frozen=True)
class UtteranceEnd:
    """A gap after the last word, even when no `speech_final` came (noisy rooms)."""


@dataclass(frozen=True)
class MicOff:
    pass


@dataclass(frozen=True)
class UserSaved:
    """The consumer saved what the user said (after `SaveUserMessage`)."""

    message_id: int
    text: str
    source: str


@dataclass(frozen=True)
class ReplyStarted:
    message_id: int
    reply_to: int
    frame: dict[str, Any]


@dataclass(frozen=True)
class ReplyDelta:
    """The next piece of a reply's text (`reply.delta`): what the avatar is about to say."""

    message_id: int
    text: str
    frame: dict[str, Any]


@dataclass(frozen=True)
class ReplyDone:
    """The task wrote the whole reply (or stopped); `sentences` were sent to the avatar."""

    message_id: int
    reply_to: int | None
    sentences: int | None
    interrupted: bool
    frame: dict[str, Any]


@dataclass(frozen=True)
class AvatarStarted:
    pass


@dataclass(frozen=True)
class AvatarDone:
    failed: bool = False


@dataclass(frozen=True)
class InterruptRequested:
    """The user pressed stop."""


@dataclass(frozen=True)
class SessionEnding:
    """The conversation ends: a reply still being written is not wanted any more."""


Event = (StreamReady | UserTyped | ListeningStarted | AudioChunk | SpeechStarted | Interim | Final
         | UtteranceEnd | MicOff | UserSaved | ReplyStarted | ReplyDelta | ReplyDone
         | AvatarStarted | AvatarDone | InterruptRequested | SessionEnding)


# Actions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    frame: dict[str, Any]


@dataclass(frozen=True)
class InterruptAvatar:
    """Stop the avatar mid-sentence at the provider (and through the page's data channel)."""


@dataclass(frozen=True)
class CancelReply:
    reply_to: int


@dataclass(frozen=True)
class SaveUserMessage:
    """Save the user's words; the consumer answers with `UserSaved`."""

    text: str
    source: str
    speech_end: float | None = None
    # When these words were first known, from a speculative final (wall clock, seconds).
    speculative_final: float | None = None


@dataclass(frozen=True)
class EnqueueReply:
    reply_to: int


@dataclass(frozen=True)
class MarkInterrupted:
    """The written reply `message_id` was cut off before the avatar finished saying it."""

    message_id: int


@dataclass(frozen=True)
class LogEcho:
    """Note in the log that the avatar's own words, heard back, were ignored (streaming/echo.py):
    how many words, not which (a misjudged transcript would be the user's)."""

    words: int


@dataclass(frozen=True)
class MarkAvatarStarted:
    message_id: int


@dataclass(frozen=True)
class StartPreemptiveReply:
    """Start the LLM on a speculative transcript that looks like the end of the turn
    (streaming/preemptive.py). Nothing is said, shown or saved unless it is adopted."""

    number: int
    text: str


@dataclass(frozen=True)
class CancelPreemptiveReply:
    number: int


@dataclass(frozen=True)
class AdoptPreemptiveReply:
    """The turn ended with the words preemptive reply `number` answers: it becomes the reply to
    the saved user message `reply_to` (or, if it is gone, a normal reply is queued)."""

    number: int
    reply_to: int


Action = (Send | InterruptAvatar | CancelReply | SaveUserMessage | EnqueueReply | MarkInterrupted
          | MarkAvatarStarted | StartPreemptiveReply | CancelPreemptiveReply
          | AdoptPreemptiveReply | LogEcho)


def frame(kind: str, **data: Any) -> Send:
    """Send the page the frame `kind` (streaming/protocol_doc.py finds these calls)."""
    return Send({"type": kind, **data})
