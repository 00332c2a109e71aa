"""The engine fits every chat request to its small model (engine/chat_tuning.py): a hint at the end
of the system message, an example exchange after it, a temperature cap and extra stop sequences,
each set or switched off by an ENGINE_LLM_* variable."""

from __future__ import annotations

import pytest

from engine.chat_tuning import (
    DEFAULT_EXAMPLES,
    DEFAULT_HINT,
    DEFAULT_MAX_TEMPERATURE,
    DEFAULT_STOP,
    EXAMPLES,
    BadChatTuning,
    ChatTuning,
)
from engine.llm import Sampling

ALL_OFF = {
    "ENGINE_LLM_HINT": "off",
    "ENGINE_LLM_EXAMPLES": "off",
    "ENGINE_LLM_MAX_TEMPERATURE": "off",
    "ENGINE_LLM_STOP": "off",
}
PERSONA = {"role": "system", "content": "You are Eileen, a retired astronaut."}
QUESTION = {"role": "user", "content": "How many legs does a spider have?"}


def test_with_nothing_set_the_engine_uses_its_defaults():
    tuning = ChatTuning.from_env({})

    assert tuning.hint == DEFAULT_HINT
    assert tuning.examples == (EXAMPLES if DEFAULT_EXAMPLES else ())
    assert tuning.max_temperature == DEFAULT_MAX_TEMPERATURE
    assert tuning.stop == DEFAULT_STOP
    assert ChatTuning.from_env({name: "  " for name in ALL_OFF}) == tuning  # blank is unset


def test_everything_off_leaves_the_request_as_the_product_sent_it():
    tuning = ChatTuning.from_env(ALL_OFF)
    sampling = Sampling(temperature=0.7, stop=("User:",))

    messages, tuned = tuning.apply([PERSONA, QUESTION], sampling)

    assert messages == [PERSONA, QUESTION]
    assert tuned == sampling


def test_the_hint_ends_the_system_message_and_the_callers_messages_are_left_alone():
    original = [dict(PERSONA), dict(QUESTION)]

    messages, _ = ChatTuning(hint="Be brief.").apply(original, Sampling())

    assert messages[0]["content"] == "You are Eileen, a retired astronaut.\nBe brief."
    assert messages[1] == QUESTION
    assert original == [PERSONA, QUESTION]


def test_a_request_without_a_system_message_gets_one_with_the_hint():
    messages, _ = ChatTuning(hint="Be brief.").apply([QUESTION], Sampling())

    assert messages == [{"role": "system", "content": "Be brief."}, QUESTION]


def test_the_example_exchange_goes_between_the_system_message_and_the_conversation():
    history = [
        PERSONA,
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        QUESTION,
    ]
    examples = (("Q1?", "A1."), ("Q2?", "A2."))

    messages, _ = ChatTuning(examples=examples).apply(history, Sampling())

    assert [m["content"] for m in messages] == [
        PERSONA["content"], "Q1?", "A1.", "Q2?", "A2.", "Hi", "Hello!", QUESTION["content"],
    ]
    assert [m["role"] for m in messages[1:5]] == ["user", "assistant", "user", "assistant"]


@pytest.mark.parametrize(("asked", "cap", "used"), [(0.7, 0.0, 0.0), (0.7, 0.2, 0.2), (0.1, 0.2, 0.1)])
def test_the_temperature_is_capped_never_raised(asked, cap, used):
    _, sampling = ChatTuning(max_temperature=cap).apply([QUESTION], Sampling(temperature=asked))

    assert sampling.temperature == used


def test_stop_sequences_are_added_to_the_requests_own_once():
    _, sampling = ChatTuning(stop=("\n", "User:")).apply([QUESTION], Sampling(stop=("User:",)))

    assert sampling.stop == ("User:", "\n")


def test_the_variables_set_each_adjustment():
    tuning = ChatTuning.from_env({
        "ENGINE_LLM_HINT": "Answer like a pirate.",
        "ENGINE_LLM_EXAMPLES": "on",
        "ENGINE_LLM_MAX_TEMPERATURE": "0.3",
        "ENGINE_LLM_STOP": '["\\n\\n", "###"]',
    })

    assert tuning == ChatTuning(
        hint="Answer like a pirate.", examples=EXAMPLES, max_temperature=0.3, stop=("\n\n", "###")
    )
    assert ChatTuning.from_env(ALL_OFF) == ChatTuning()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ENGINE_LLM_MAX_TEMPERATURE", "hot"),
        ("ENGINE_LLM_MAX_TEMPERATURE", "3"),
        ("ENGINE_LLM_MAX_TEMPERATURE", "-0.5"),
        ("ENGINE_LLM_STOP", '"\\n"'),
        ("ENGINE_LLM_STOP", '[""]'),
        ("ENGINE_LLM_STOP", "[newline"),
        ("ENGINE_LLM_EXAMPLES", "maybe"),
    ],
)
def test_an_unusable_value_is_refused_with_the_variables_name(name, value):
    with pytest.raises(BadChatTuning, match=name):
        ChatTuning.from_env({name: value})
