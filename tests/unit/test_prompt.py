"""Prompt building: the persona's prompt and the newest turns that fit."""

from __future__ import annotations

from streaming.prompt import estimate_tokens, trim_history


def test_estimate_tokens_is_about_four_characters_a_token():
    assert estimate_tokens("") == 1
    assert estimate_tokens("x" * 400) == 101


def test_everything_fits_under_a_large_budget():
    turns = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
             {"role": "user", "content": "How are you?"}]
    assert trim_history("Be nice.", turns, max_tokens=1000) == [
        {"role": "system", "content": "Be nice."}, *turns
    ]


def test_the_oldest_turns_go_first_and_the_chat_never_opens_with_the_assistant():
    turns = [{"role": "user", "content": "a" * 400}, {"role": "assistant", "content": "b" * 40},
             {"role": "user", "content": "c" * 40}]
    # system 1 token; c: 11+4, b: 11+4, a: 101+4 does not fit in 40 -> a is dropped, then b
    # would open the chat, so it goes too.
    assert trim_history("", turns, max_tokens=40) == [
        {"role": "system", "content": ""}, {"role": "user", "content": "c" * 40}
    ]


def test_the_newest_turn_is_kept_even_when_it_alone_is_over_budget():
    turns = [{"role": "user", "content": "z" * 1000}]
    assert trim_history("sys", turns, max_tokens=10)[-1] == turns[0]
