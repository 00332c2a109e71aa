"""The avatar's own words, heard back through the microphone, are not the user talking: the
pure rule (streaming/echo.py), then the turn state that asks it (streaming/turns.py)."""

from __future__ import annotations

import pytest

from streaming.echo import DROPPED_WORD_COST, SAID_WORDS, TAIL_S, errors_against, is_echo
from streaming.turn_events import (
    AvatarDone,
    AvatarStarted,
    CancelReply,
    Final,
    Interim,
    InterruptAvatar,
    InterruptRequested,
    ListeningStarted,
    LogEcho,
    ReplyDelta,
    ReplyDone,
    ReplyStarted,
    SaveUserMessage,
    Send,
    StreamReady,
    UserSaved,
    UserTyped,
    UtteranceEnd,
)
from streaming.turns import Turns, words_of

REPLY = ("It was a cold morning at the launch site. We climbed into the capsule at dawn, and "
         "the engines roared beneath us. Then the rocket lifted off, slowly at first, and the "
         "sky turned from blue to black.")


def echo(heard: str, said: str = REPLY) -> bool:
    return is_echo(words_of(heard), words_of(said))


# The rule -------------------------------------------------------------------------------------


def test_a_stretch_of_the_avatars_words_is_its_echo():
    assert echo("we climbed into the capsule at dawn")
    assert echo("Then the rocket lifted off.")


def test_the_recogniser_may_mishear_one_word_in_five():
    assert echo("then the pocket lifted off")
    assert echo("we climbed into a capsule at dawn and the engines")


def test_the_recogniser_may_drop_the_short_words_of_faint_audio():
    assert echo("climbed into capsule dawn")
    assert errors_against(words_of("climbed into capsule dawn"),
                          words_of("we climbed into the capsule at dawn")) == 2 * DROPPED_WORD_COST


def test_two_wrong_words_in_five_are_not_an_echo():
    assert not echo("then the pocket lifted up")


def test_a_question_of_the_users_own_is_not_an_echo():
    assert not echo("how long did the flight take")
    assert not echo("what was the sky like")


def test_the_avatars_words_scattered_over_its_reply_are_not_an_echo():
    # Each word is in the reply, but not together: the user's sentence, not the echo.
    assert not echo("the morning sky turned cold")


def test_the_avatars_words_followed_by_the_users_are_not_an_echo():
    assert not echo("the rocket lifted off wait what about mars")


@pytest.mark.parametrize(("heard", "is_it"), [
    ("stop", False), ("wait", False),  # short, and not the avatar's: the user barges in
    ("the", True), ("at the", True),  # common words the avatar said: they never mean "stop"
    ("the rocket", True), ("rocket the", False),
])
def test_short_transcripts(heard, is_it):
    assert echo(heard) is is_it


def test_nothing_heard_or_nothing_said_is_no_echo():
    assert not echo("")
    assert not echo("we climbed into the capsule", said="")


# The turn state -------------------------------------------------------------------------------


def saying(text: str = REPLY, *, written: bool = False) -> Turns:
    """The user asked (question 1); the avatar is saying reply 2, whose text is `text` (and,
    if `written`, all of it has been written: two sentences went to the avatar)."""
    turns = Turns()
    turns.handle(StreamReady())
    turns.handle(ListeningStarted())
    turns.handle(UserTyped("Tell me about your first flight."))
    turns.handle(UserSaved(1, "Tell me about your first flight.", "text"))
    turns.handle(ReplyStarted(2, 1, {"type": "reply.started", "message_id": 2, "reply_to": 1}))
    delta = {"type": "reply.delta", "message_id": 2, "text": text}
    assert turns.handle(ReplyDelta(2, text, delta)) == [Send(delta)]
    if written:
        turns.handle(ReplyDone(2, 1, 2, False, {"type": "reply.done", "message_id": 2}))
    turns.handle(AvatarStarted())
    return turns


def cut_off(actions) -> bool:
    return InterruptAvatar() in actions


def test_an_echo_while_the_avatar_speaks_neither_stops_it_nor_is_shown():
    turns = saying()
    assert turns.handle(Interim("we climbed into")) == []
    assert turns.handle(Interim("we climbed into the capsule")) == []
    assert turns.avatar_speaking and turns.reply_running


def test_an_echo_final_is_logged_not_saved():
    turns = saying()
    actions = turns.handle(Final("We climbed into the capsule at dawn.", speech_final=True))
    assert actions == [LogEcho(words=7)]
    assert turns.handle(UtteranceEnd()) == []
    assert turns.utterance == [] and turns.avatar_speaking


def test_a_real_question_over_the_avatar_still_stops_it_and_is_saved():
    turns = saying()
    actions = turns.handle(Interim("wait, what about mars"))
    assert actions[0] == Send({"type": "transcript.interim", "text": "wait, what about mars"})
    assert cut_off(actions) and CancelReply(1) in actions
    actions = turns.handle(Final("Wait, what about Mars?", speech_final=True, now=3.0))
    assert actions[-1] == SaveUserMessage("Wait, what about Mars?", "voice", 3.0)


def test_the_avatars_words_then_the_users_own_stop_it():
    turns = saying()
    assert turns.handle(Interim("then the rocket")) == []
    assert cut_off(turns.handle(Interim("then the rocket hold on a second")))


def test_an_echo_between_two_sentences_of_a_written_reply_does_not_stop_it():
    turns = saying(written=True)
    turns.handle(AvatarDone())  # the first sentence said; the second is owed
    assert turns.avatar_busy
    assert turns.handle(Final("the engines roared beneath us", speech_final=True)) == [
        LogEcho(words=5)
    ]
    assert turns.avatar_busy


def test_an_echo_heard_as_the_avatar_finishes_is_not_answered():
    turns = saying(written=True)
    turns.handle(AvatarDone())
    turns.handle(AvatarStarted())
    turns.handle(AvatarDone())  # said to the end, at 0 s of audio
    assert not turns.avatar_busy
    # The last words' final comes after the avatar's stream/done.
    final = Final("from blue to black", speech_final=True, audio_end=TAIL_S, now=9.0)
    assert turns.handle(final) == [LogEcho(words=4)]


def test_the_avatars_words_said_by_the_user_afterwards_are_answered():
    turns = saying(written=True)
    turns.handle(AvatarDone())
    turns.handle(AvatarStarted())
    turns.handle(AvatarDone())
    final = Final("from blue to black?", speech_final=True, audio_end=TAIL_S + 2.0, now=9.0)
    assert turns.handle(final) == [SaveUserMessage("from blue to black?", "voice", 9.0)]


def test_an_echo_after_the_stop_button_is_not_answered():
    turns = saying()
    assert cut_off(turns.handle(InterruptRequested()))
    assert turns.handle(Final("and the engines roared", speech_final=True)) == [LogEcho(words=4)]


def test_quoting_the_last_reply_while_the_next_is_written_is_the_users():
    turns = saying(written=True)
    for _ in range(2):
        turns.handle(AvatarDone())
        turns.handle(AvatarStarted())
    turns.handle(AvatarDone())
    turns.handle(UserTyped("Go on."))
    turns.handle(UserSaved(3, "Go on.", "text"))  # its reply is being written: the avatar is silent
    final = Final("you said then the rocket lifted off slowly at first", speech_final=True,
                  audio_end=5.0)
    assert turns.handle(final)[-1] == SaveUserMessage(final.text, "voice", 0.0)


def test_the_greeting_is_the_avatars_own_words_too():
    turns = Turns()
    turns.handle(StreamReady())
    turns.handle(ReplyStarted(5, None, {"type": "reply.started", "message_id": 5}))
    turns.handle(ReplyDelta(5, "Hello! I am Ada, an astronaut.", {"type": "reply.delta"}))
    turns.handle(AvatarStarted())
    assert turns.handle(Interim("i am ada an astronaut")) == []


def test_a_new_reply_forgets_the_words_of_the_last():
    turns = saying()
    turns.handle(UserTyped("And then?"))
    turns.handle(UserSaved(3, "And then?", "text"))
    turns.handle(ReplyStarted(4, 3, {"type": "reply.started", "message_id": 4, "reply_to": 3}))
    turns.handle(ReplyDelta(4, "We orbited the Earth.", {"type": "reply.delta"}))
    turns.handle(AvatarStarted())
    assert cut_off(turns.handle(Interim("we climbed into the capsule")))


def test_a_late_delta_of_a_cancelled_reply_is_not_the_avatars_words():
    turns = saying("We orbited the Earth.")
    turns.handle(ReplyDelta(99, " We climbed into the capsule.", {"type": "reply.delta"}))
    assert cut_off(turns.handle(Interim("we climbed into the capsule")))


def test_only_the_avatars_newest_words_count():
    old = "We climbed into the capsule at dawn. "
    turns = saying(old + "Then " * SAID_WORDS)
    assert cut_off(turns.handle(Interim("we climbed into the capsule")))
