"""The turn's state machine, without sockets: each event order we could think of, then random
ones (hypothesis) against the invariants that must hold whatever the order."""

from __future__ import annotations

import pytest
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from streaming.barge_in import MIN_BARGE_IN_SPEECH_S
from streaming.turn_events import (
    AdoptPreemptiveReply,
    AudioChunk,
    AvatarDone,
    AvatarStarted,
    CancelPreemptiveReply,
    CancelReply,
    EnqueueReply,
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
)
from streaming.turns import (
    Turns,
    has_words,
    sounds_finished,
    words_of,
)


def sent(actions) -> list[dict]:
    return [a.frame for a in actions if isinstance(a, Send)]


def kinds(actions) -> list[str]:
    return [type(a).__name__ if not isinstance(a, Send) else a.frame["type"] for a in actions]


def started(message_id: int, reply_to: int) -> ReplyStarted:
    return ReplyStarted(message_id, reply_to,
                        {"type": "reply.started", "message_id": message_id, "reply_to": reply_to})


def done(message_id: int, reply_to: int, *, sentences: int = 2, interrupted=False) -> ReplyDone:
    return ReplyDone(message_id, reply_to, sentences, interrupted,
                     {"type": "reply.done", "message_id": message_id, "reply_to": reply_to,
                      "interrupted": interrupted})


def live(**state) -> Turns:
    turns = Turns(**state)
    turns.handle(StreamReady())
    return turns


def ask(turns: Turns, question_id: int, text: str = "Hello?") -> list:
    """The user types; the consumer saves it as `question_id`."""
    actions = turns.handle(UserTyped(text))
    assert actions[-1] == SaveUserMessage(text, "text")
    return actions[:-1] + turns.handle(UserSaved(question_id, text, "text"))


# Typed turns --------------------------------------------------------------------------------


def test_a_typed_message_when_idle_is_saved_shown_and_answered():
    turns = live()
    assert turns.handle(UserTyped("Hi there")) == [SaveUserMessage("Hi there", "text")]
    assert turns.handle(UserSaved(7, "Hi there", "text")) == [
        Send({"type": "transcript.final", "text": "Hi there", "message_id": 7, "source": "text"}),
        EnqueueReply(7),
    ]
    assert turns.reply_running


def test_a_typed_message_while_a_reply_is_written_cancels_it_and_stops_the_avatar():
    turns = live()
    ask(turns, 1)
    turns.handle(started(2, 1))
    actions = turns.handle(UserTyped("Actually, never mind"))
    assert actions == [
        CancelReply(1), InterruptAvatar(), Send({"type": "avatar.interrupt"}),
        Send({"type": "avatar.state", "state": "idle"}),
        SaveUserMessage("Actually, never mind", "text"),
    ]
    assert not turns.reply_running


def test_without_a_stream_nothing_is_asked_of_the_avatar():
    turns = Turns()
    ask(turns, 1)
    assert kinds(turns.handle(InterruptRequested())) == ["CancelReply", "avatar.state"]


def test_the_stop_button_when_idle_still_stops_the_avatar_but_marks_nothing():
    turns = live()
    assert turns.handle(InterruptRequested()) == [InterruptAvatar(), Send({"type": "avatar.interrupt"})]


# The avatar and the written reply -------------------------------------------------------------


def test_the_avatar_starting_is_recorded_on_the_reply_it_says():
    turns = live()
    ask(turns, 1)
    turns.handle(started(2, 1))
    assert turns.handle(AvatarStarted()) == [
        MarkAvatarStarted(2), Send({"type": "avatar.state", "state": "speaking"})
    ]
    assert turns.handle(AvatarDone()) == [Send({"type": "avatar.state", "state": "idle"})]


def test_an_avatar_error_is_reported_and_counts_as_a_finished_talk():
    turns = live()
    actions = turns.handle(AvatarDone(failed=True))
    assert sent(actions)[-1]["code"] == "avatar_error" and turns.talks_done == 1


def test_barge_in_between_two_sentences_of_a_written_reply_marks_it_interrupted_once():
    turns = live()
    ask(turns, 1)
    turns.handle(started(2, 1))
    turns.handle(done(2, 1, sentences=2))
    turns.handle(AvatarStarted())
    turns.handle(AvatarDone())  # one of two sentences said: silent, but not finished
    assert turns.avatar_busy
    actions = turns.handle(Interim("hold on"))
    assert actions == [
        Send({"type": "transcript.interim", "text": "hold on"}),
        InterruptAvatar(), Send({"type": "avatar.interrupt"}),
        MarkInterrupted(2), Send({"type": "reply.interrupted", "message_id": 2}),
        Send({"type": "avatar.state", "state": "idle"}),
    ]
    assert not turns.avatar_busy
    assert not any(isinstance(a, MarkInterrupted) for a in turns.handle(Interim("hold on please")))


def test_a_reply_said_to_the_end_is_not_interrupted_by_the_next_question():
    turns = live()
    ask(turns, 1)
    turns.handle(started(2, 1))
    turns.handle(done(2, 1, sentences=2))
    for _ in range(2):
        turns.handle(AvatarStarted())
        turns.handle(AvatarDone())
    assert not turns.avatar_busy
    assert turns.handle(UserTyped("Next")) == [SaveUserMessage("Next", "text")]


def test_a_reply_the_task_already_cut_short_is_not_marked_again():
    turns = live()
    ask(turns, 1)
    turns.handle(started(2, 1))
    turns.handle(InterruptRequested())
    turns.handle(done(2, 1, sentences=1, interrupted=True))
    assert not turns.avatar_busy
    assert not any(isinstance(a, MarkInterrupted) for a in turns.handle(UserTyped("again")))


def test_a_late_reply_done_of_an_older_reply_does_not_end_the_running_one():
    turns = live()
    ask(turns, 1)
    turns.handle(started(2, 1))
    turns.handle(done(2, 1))
    ask(turns, 3, "Second?")
    turns.handle(started(4, 3))
    relayed = turns.handle(done(2, 1))  # the first reply's done again
    assert sent(relayed) == [done(2, 1).frame]
    assert turns.reply_to == 3 and turns.talks_sent is None
    assert turns.handle(InterruptRequested())[0] == CancelReply(3)


def test_a_late_reply_start_of_a_cancelled_question_is_shown_but_not_adopted():
    turns = live()
    ask(turns, 1)
    ask(turns, 3, "Changed my mind")  # cancels the reply to 1
    assert sent(turns.handle(started(2, 1))) == [started(2, 1).frame]
    assert turns.reply_id is None
    turns.handle(started(4, 3))
    assert turns.reply_id == 4


def test_a_reply_done_without_a_stream_owes_no_talks():
    turns = Turns()
    ask(turns, 1)
    turns.handle(started(2, 1))
    turns.handle(done(2, 1, sentences=3))
    assert not turns.avatar_busy


# Utterances -----------------------------------------------------------------------------------


def test_finals_are_joined_into_one_utterance_at_speech_final():
    turns = live()
    turns.handle(ListeningStarted())
    turns.handle(AudioChunk(2.0, voiced=True))
    assert turns.handle(Final("What is", speech_final=False)) == []
    assert sent(turns.handle(Interim("the moon"))) == [
        {"type": "transcript.interim", "text": "What is the moon"}
    ]
    actions = turns.handle(Final("the moon?", speech_final=True, audio_end=1.5, now=100.0))
    # The speculative final ("What is") lacked words saved: it is not the turn's mark.
    assert actions == [SaveUserMessage("What is the moon?", "voice", speech_end=99.5)]


def test_a_speculative_final_with_all_the_words_marks_when_they_were_known():
    turns = live()
    turns.handle(Final("What is", speech_final=False, now=10.0))
    turns.handle(Final("the moon?", speech_final=False, now=10.4))
    (saved,) = [a for a in turns.handle(UtteranceEnd()) if isinstance(a, SaveUserMessage)]
    assert saved.speculative_final == 10.4
    turns.handle(Final("Hello.", speech_final=False, now=20.0))
    (saved,) = [a for a in turns.handle(Final("", speech_final=True, now=20.3))
                if isinstance(a, SaveUserMessage)]
    assert (saved.text, saved.speculative_final) == ("Hello.", 20.0)  # endpointing added nothing


def test_utterance_end_closes_an_utterance_that_never_got_speech_final():
    turns = live()
    turns.handle(Final("Hello there", speech_final=False, now=5.0))
    assert turns.handle(UtteranceEnd()) == [SaveUserMessage("Hello there", "voice", 5.0, 5.0)]
    assert turns.handle(UtteranceEnd()) == []


def test_an_empty_speech_final_ends_the_utterance_and_an_empty_one_saves_nothing():
    turns = live()
    assert turns.handle(Final("", speech_final=True)) == []
    turns.handle(Final("Yes", speech_final=False, now=1.0))
    assert turns.handle(Final("", speech_final=True)) == [
        SaveUserMessage("Yes", "voice", 1.0, 1.0)
    ]


def test_muting_mid_utterance_answers_the_words_said_and_carries_nothing_over():
    turns = live()
    turns.handle(Final("What is", speech_final=False, now=1.0))
    turns.handle(Interim("the mo"))
    assert turns.handle(MicOff()) == [SaveUserMessage("What is", "voice", 1.0, 1.0)]
    turns.handle(UserSaved(1, "What is", "voice"))
    turns.handle(started(2, 1))
    turns.handle(done(2, 1, sentences=0))
    # Unmuted later: the next utterance is only what is said then.
    turns.handle(ListeningStarted())
    actions = turns.handle(Final("Tell me a joke.", speech_final=True, now=9.0))
    assert actions[-1] == SaveUserMessage("Tell me a joke.", "voice", 9.0)


def test_muting_with_only_an_interim_saves_nothing():
    turns = live()
    turns.handle(Interim("what"))
    assert turns.handle(MicOff()) == []
    assert turns.handle(Final("Hi.", speech_final=True))[-1] == SaveUserMessage("Hi.", "voice", 0.0)


def test_filler_words_while_the_avatar_speaks_do_not_barge_in():
    turns = live()
    turns.handle(AvatarStarted())
    assert turns.handle(Interim("hmm")) == [Send({"type": "transcript.interim", "text": "hmm"})]
    assert turns.avatar_speaking


@pytest.mark.parametrize(("text", "words"), [("uh", False), ("Mm, hmm.", False), ("", False),
                                             ("stop", True), ("uh wait", True)])
def test_has_words(text, words):
    assert has_words(text) is words


# Barge-in on voice onset ----------------------------------------------------------------------


def speak_over(turns: Turns, voiced_ms: int, then_silence_ms: int = 0) -> list:
    actions = turns.handle(SpeechStarted(at=turns.audio_seconds))
    for _ in range(voiced_ms // 20):
        actions += turns.handle(AudioChunk(0.02, voiced=True))
    for _ in range(then_silence_ms // 20):
        actions += turns.handle(AudioChunk(0.02, voiced=False))
    return actions


def test_voice_onset_over_the_avatar_stops_it_after_the_minimum_speech():
    turns = live()
    turns.handle(ListeningStarted())
    turns.handle(AvatarStarted())
    actions = speak_over(turns, int(MIN_BARGE_IN_SPEECH_S * 1000) + 20)
    assert InterruptAvatar() in actions and not turns.avatar_speaking


def test_a_cough_of_150_ms_does_not_interrupt():
    turns = live()
    turns.handle(AvatarStarted())
    assert speak_over(turns, 140, then_silence_ms=400) == []
    assert turns.avatar_speaking and turns.onset is None


def test_a_speech_start_over_a_quiet_room_does_not_interrupt():
    """The recogniser may call the avatar's echo-cancelled voice (a faint hiss) speech: below
    speech level it never counts as the user talking."""
    turns = live()
    turns.handle(AvatarStarted())
    actions = turns.handle(SpeechStarted(at=turns.audio_seconds))
    for _ in range(30):
        actions += turns.handle(AudioChunk(0.02, voiced=False))
    assert actions == [] and turns.avatar_speaking and turns.onset is None


def test_two_coughs_with_a_gap_do_not_add_up():
    turns = live()
    turns.handle(AvatarStarted())
    actions = speak_over(turns, 120, then_silence_ms=200)
    for _ in range(6):
        actions += turns.handle(AudioChunk(0.02, voiced=True))
    assert actions == [] and turns.avatar_speaking


def test_an_onset_reported_late_counts_the_audio_already_heard():
    turns = live()
    turns.handle(AvatarStarted())
    for _ in range(15):
        turns.handle(AudioChunk(0.02, voiced=True))
    assert InterruptAvatar() in turns.handle(SpeechStarted(at=0.0))


def test_voice_onset_when_nothing_is_said_or_written_does_nothing():
    turns = live()
    assert speak_over(turns, 400) == []


# Random orders ----------------------------------------------------------------------------------


class TurnOrders(RuleBasedStateMachine):
    """A plausible world (ids grow, replies answer saved questions, done follows started) that
    sends events in any order; the invariants hold whatever it does."""

    def __init__(self) -> None:
        super().__init__()
        self.turns = Turns()
        self.next_id = 1
        self.questions: list[int] = []
        self.started: dict[int, int] = {}  # reply id -> question id
        self.finals: list[str] = []
        self.saved_texts: list[str] = []
        self.marked: list[int] = []
        self.cancelled: list[int] = []
        self.written: set[int] = set()  # replies whose reply.done (not interrupted) came
        self.preempted: dict[int, str] = {}  # preemptive reply number -> the words it answers
        self.preempt_ends: list[int] = []  # each cancellation or adoption, by number
        self.refusing_voice = False  # the voice-turn quota is used up: utterances are not saved

    def perform(self, actions) -> None:
        for action in actions:
            assert isinstance(action, (Send, InterruptAvatar, CancelReply, SaveUserMessage,
                                       EnqueueReply, MarkInterrupted, MarkAvatarStarted,
                                       StartPreemptiveReply, CancelPreemptiveReply,
                                       AdoptPreemptiveReply, LogEcho))
            if isinstance(action, StartPreemptiveReply):
                assert action.number not in self.preempted and action.text.strip()
                self.preempted[action.number] = action.text
            if isinstance(action, CancelPreemptiveReply):
                assert action.number in self.preempted, "cancelled one never started"
                self.preempt_ends.append(action.number)
            if isinstance(action, Send):
                assert isinstance(action.frame.get("type"), str)
            if isinstance(action, MarkInterrupted):
                assert action.message_id in self.written, "cut off a reply not yet written"
                self.marked.append(action.message_id)
            if isinstance(action, CancelReply):
                self.cancelled.append(action.reply_to)
            if isinstance(action, SaveUserMessage):
                assert action.text.strip()
                if action.source == "voice" and self.refusing_voice:
                    continue  # the consumer drops it: not saved, not answered
                self.saved_texts.append(action.text)
                question = self.next_id
                self.next_id += 1
                self.questions.append(question)
                follow = self.turns.handle(UserSaved(question, action.text, action.source))
                # Each saved question is answered once: by a new reply or an adopted one.
                starts = [a for a in follow if isinstance(a, (EnqueueReply, AdoptPreemptiveReply))]
                assert len(starts) == 1 and starts[0] == follow[-1]
                assert starts[0].reply_to == question
                if isinstance(starts[0], AdoptPreemptiveReply):
                    assert action.source == "voice"
                    assert starts[0].number in self.preempted, "adopted one never started"
                    assert words_of(self.preempted[starts[0].number]) == words_of(action.text)
                    self.preempt_ends.append(starts[0].number)
                self.perform(follow)

    @rule()
    def stream_ready(self):
        self.perform(self.turns.handle(StreamReady()))

    @rule(text=st.sampled_from(["Hi", "Tell me more", "What?"]))
    def user_types(self, text):
        self.perform(self.turns.handle(UserTyped(text)))

    @rule(text=st.sampled_from(["", "hmm", "wait", "what is"]))
    def interim(self, text):
        self.perform(self.turns.handle(Interim(text)))

    @rule(speech_final=st.booleans(), word=st.sampled_from(["", "alpha", "bravo", "uh"]),
          end=st.sampled_from(["", ".", "?", "..."]))
    def final(self, speech_final, word, end):
        text = f"{word}{len(self.finals)}{end}" if word else ""
        if text:
            self.finals.append(text)
        self.perform(self.turns.handle(Final(text, speech_final)))

    @rule()
    def utterance_end(self):
        self.perform(self.turns.handle(UtteranceEnd()))

    @rule()
    def mic_off(self):
        self.perform(self.turns.handle(MicOff()))

    @rule(voiced=st.booleans())
    def audio(self, voiced):
        self.perform(self.turns.handle(AudioChunk(0.1, voiced)))

    @rule()
    def speech_started(self):
        self.perform(self.turns.handle(SpeechStarted(self.turns.audio_seconds)))

    @rule(data=st.data())
    def reply_started(self, data):
        if not self.questions:
            return
        question = data.draw(st.sampled_from(self.questions))
        reply = self.next_id
        self.next_id += 1
        self.started[reply] = question
        self.perform(self.turns.handle(started(reply, question)))

    @rule(data=st.data(), text=st.sampled_from(["wait", " what is", " alpha0 bravo1."]))
    def reply_delta(self, data, text):
        """The avatar's words: some of them are what the user (or its echo) says."""
        if not self.started:
            return
        reply = data.draw(st.sampled_from(sorted(self.started)))
        self.perform(self.turns.handle(ReplyDelta(reply, text, {"type": "reply.delta"})))

    @rule(data=st.data(), sentences=st.integers(0, 3), interrupted=st.booleans())
    def reply_done(self, data, sentences, interrupted):
        if not self.started:
            return
        reply = data.draw(st.sampled_from(sorted(self.started)))
        if not interrupted and self.turns.has_stream:
            self.written.add(reply)
        self.perform(self.turns.handle(done(reply, self.started[reply], sentences=sentences,
                                            interrupted=interrupted)))

    @rule()
    def avatar_started(self):
        self.perform(self.turns.handle(AvatarStarted()))

    @rule(failed=st.booleans())
    def avatar_done(self, failed):
        self.perform(self.turns.handle(AvatarDone(failed)))

    @rule(refusing=st.booleans())
    def voice_quota(self, refusing):
        self.refusing_voice = refusing

    @rule()
    def session_ends(self):
        self.perform(self.turns.handle(SessionEnding()))
        assert self.turns.preempted is None and not self.turns.reply_running

    @rule()
    def stop_button(self):
        self.perform(self.turns.handle(InterruptRequested()))
        assert not self.turns.avatar_busy and not self.turns.reply_running

    @invariant()
    def each_reply_is_marked_interrupted_at_most_once(self):
        assert len(self.marked) == len(set(self.marked))

    @invariant()
    def each_reply_is_cancelled_at_most_once(self):
        assert len(self.cancelled) == len(set(self.cancelled))

    @invariant()
    def each_preemptive_reply_ends_once_cancelled_or_adopted(self):
        assert len(self.preempt_ends) == len(set(self.preempt_ends))

    @invariant()
    def at_most_one_preemptive_reply_is_held_and_the_state_knows_it(self):
        held = set(self.preempted) - set(self.preempt_ends)
        assert len(held) <= 1
        assert held == ({self.turns.preempted[0]} if self.turns.preempted else set())

    @invariant()
    def no_words_are_glued_onto_a_later_utterance(self):
        for final in self.finals:
            assert sum(final in saved.split() for saved in self.saved_texts) <= 1

    @invariant()
    def the_running_reply_is_the_newest_question(self):
        if self.turns.reply_to is not None:
            assert self.turns.reply_to == self.questions[-1]


TestTurnOrders = TurnOrders.TestCase
TestTurnOrders.settings = hypothesis_settings(max_examples=300, stateful_step_count=40,
                                              deadline=None)


def test_ending_the_session_cancels_the_reply_being_written_and_forgets_the_utterance():
    turns = live()
    turns.handle(Final("and also", speech_final=False))
    ask(turns, 1)
    assert turns.handle(SessionEnding()) == [CancelReply(1)]
    assert turns.handle(SessionEnding()) == []
    assert turns.handle(UtteranceEnd()) == []


# What the recogniser heard, as turn events -------------------------------------------------------


def test_recogniser_events_become_turn_events():
    from streaming.listening import turn_event
    from streaming.providers.stt.base import TranscriptEvent

    assert turn_event(TranscriptEvent("interim", "what is")) == Interim("what is")
    # Where an interim's audio ends tells the avatar's echo from the user (streaming/echo.py).
    assert turn_event(TranscriptEvent("interim", "what", start=2.0, duration=0.5)).audio_end == 2.5
    # A final without is_final is still a guess.
    assert turn_event(TranscriptEvent("final", "what", is_final=False)) == Interim("what")
    final = turn_event(TranscriptEvent("final", "What is it?", is_final=True, speech_final=True,
                                       start=1.0, duration=0.5))
    assert (final.text, final.speech_final, final.audio_end) == ("What is it?", True, 1.5)
    assert turn_event(TranscriptEvent("utterance_end", start=2.0)) == UtteranceEnd()
    assert turn_event(TranscriptEvent("speech_started", start=3.25)) == SpeechStarted(at=3.25)


# Preemptive replies ----------------------------------------------------------------------------


def speculative(text: str) -> Final:
    """Deepgram's `is_final: true, speech_final: false`: these words are final, the turn may go on."""
    return Final(text, speech_final=False, now=1.0)


def test_a_speculative_final_that_ends_a_sentence_starts_a_preemptive_reply():
    turns = live()
    assert turns.handle(speculative("What is the moon?")) == [
        StartPreemptiveReply(1, "What is the moon?")
    ]
    # Nothing is shown, saved or queued until the turn ends.
    assert turns.reply_to is None and turns.preempted == (1, "What is the moon?")


@pytest.mark.parametrize("text", ["What is the", "And then...", "uh.", "Well,"])
def test_a_speculative_final_that_does_not_sound_finished_starts_nothing(text):
    turns = live()
    assert turns.handle(speculative(text)) == []


def test_the_same_words_at_the_end_of_the_turn_adopt_the_preemptive_reply():
    turns = live()
    turns.handle(speculative("What is the moon?"))
    # Deepgram's speech_final often carries no new words.
    assert turns.handle(Final("", speech_final=True)) == [
        SaveUserMessage("What is the moon?", "voice", 1.0, speculative_final=1.0)
    ]
    assert turns.handle(UserSaved(5, "What is the moon?", "voice")) == [
        Send({"type": "transcript.final", "text": "What is the moon?", "message_id": 5,
              "source": "voice"}),
        AdoptPreemptiveReply(1, 5),  # no EnqueueReply: no second LLM call
    ]
    assert turns.reply_to == 5 and turns.preempted is None


def test_words_are_compared_without_case_punctuation_or_spacing():
    turns = live()
    turns.handle(speculative("What is  the Moon?"))
    turns.handle(UtteranceEnd())
    assert turns.handle(UserSaved(5, "what is the moon", "voice"))[-1] == AdoptPreemptiveReply(1, 5)


def test_different_words_at_the_end_cancel_it_and_queue_a_normal_reply():
    turns = live()
    turns.handle(speculative("What is the moon?"))
    actions = turns.handle(Final("made of", speech_final=True, now=2.0))
    assert actions == [CancelPreemptiveReply(1),
                       SaveUserMessage("What is the moon? made of", "voice", 2.0)]
    assert turns.handle(UserSaved(5, "What is the moon? made of", "voice"))[-1] == EnqueueReply(5)


def test_new_words_while_it_is_held_cancel_it():
    turns = live()
    turns.handle(speculative("What is the moon?"))
    assert turns.handle(Interim("and the")) == [
        Send({"type": "transcript.interim", "text": "What is the moon? and the"}),
        CancelPreemptiveReply(1),
    ]
    assert turns.handle(Interim("and the sun")) == [
        Send({"type": "transcript.interim", "text": "What is the moon? and the sun"})
    ]  # cancelled once
    assert turns.handle(Final("and the sun?", speech_final=True))[-1] == SaveUserMessage(
        "What is the moon? and the sun?", "voice", 0.0)
    assert turns.handle(UserSaved(6, "What is the moon? and the sun?", "voice"))[-1] == EnqueueReply(6)


def test_a_filler_interim_does_not_cancel_it():
    turns = live()
    turns.handle(speculative("What is the moon?"))
    assert turns.handle(Interim("hmm")) == [
        Send({"type": "transcript.interim", "text": "What is the moon? hmm"})
    ]
    assert turns.preempted == (1, "What is the moon?")


def test_a_second_finished_sentence_replaces_it_with_one_for_the_whole_utterance():
    turns = live()
    turns.handle(speculative("Hello."))
    assert turns.handle(speculative("What is the moon?")) == [
        CancelPreemptiveReply(1), StartPreemptiveReply(2, "Hello. What is the moon?")
    ]
    turns.handle(Final("", speech_final=True))
    assert turns.handle(UserSaved(3, "Hello. What is the moon?", "voice"))[-1] == (
        AdoptPreemptiveReply(2, 3))


def test_an_unfinished_speculative_final_after_it_cancels_it():
    turns = live()
    turns.handle(speculative("I see."))
    assert turns.handle(speculative("But what about")) == [CancelPreemptiveReply(1)]


def test_typing_or_ending_the_session_cancels_it():
    turns = live()
    turns.handle(speculative("What is the moon?"))
    assert turns.handle(UserTyped("never mind")) == [CancelPreemptiveReply(1),
                                                     SaveUserMessage("never mind", "text")]
    turns.handle(speculative("Tell me a joke."))
    assert turns.handle(SessionEnding()) == [CancelPreemptiveReply(2)]


def test_muting_after_the_speculative_final_adopts_it():
    turns = live()
    turns.handle(speculative("Tell me a joke."))
    assert turns.handle(MicOff()) == [SaveUserMessage("Tell me a joke.", "voice", 1.0, 1.0)]
    assert turns.handle(UserSaved(2, "Tell me a joke.", "voice"))[-1] == AdoptPreemptiveReply(1, 2)


def test_a_speculative_final_over_the_avatar_barges_in_and_preempts():
    turns = live()
    ask(turns, 1)
    turns.handle(started(2, 1))
    turns.handle(AvatarStarted())
    actions = turns.handle(speculative("Stop, what is that?"))
    assert CancelReply(1) in actions and InterruptAvatar() in actions
    assert actions[-1] == StartPreemptiveReply(1, "Stop, what is that?")


@pytest.mark.parametrize(("text", "finished"), [("What is it?", True), ("Go on.", True),
                                                ("Wow!", True), ("so...", False), ("Hmm.", False),
                                                ("and the", False), ("", False)])
def test_sounds_finished(text, finished):
    assert sounds_finished(text) is finished
