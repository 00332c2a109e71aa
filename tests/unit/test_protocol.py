"""Inbound frames: each bad one is refused with its own code, none raises anything else."""

from __future__ import annotations

import json

import pytest

from streaming.protocol import (
    ClientMessage,
    ProtocolError,
    check_audio_frame,
    is_storable_text,
    parse_text_frame,
)


def refused(raw: str) -> str:
    with pytest.raises(ProtocolError) as caught:
        parse_text_frame(raw)
    assert caught.value.message
    return caught.value.code


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("[" * 100_000 + "]" * 100_000, "too_large"),
        ("[" * 30_000 + "]" * 30_000, "too_deep"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "too_deep"),
        ('{"type": "ping", "t": ' + "[" * 20_000 + "]" * 20_000 + "}", "too_deep"),
        ('{"type": "chat.text", "text": "hi \\ud800 there"}', "invalid_text"),
        ('{"type": "chat.text", "text": "\\udfff"}', "invalid_text"),
        ('{"type": "chat.text", "text": "nul \\u0000 byte"}', "invalid_text"),
        ('{"type": "rtc.answer", "sdp": "v=0\\nm=\\ud83d"}', "invalid_text"),
        ('{"type": "ping", "t": NaN}', "bad_number"),
        ('{"type": "ping", "t": -Infinity}', "bad_number"),
        ('{"type": "ping", "t": 1e999}', "bad_number"),
        ('{"type": "ping", "t": ' + "9" * 5000 + "}", "bad_number"),
        ('{"type": "\\ud800"}', "unknown_type"),
        ('{"type": 7}', "missing_field"),
        ("", "bad_json"),
        ("\ud800", "bad_json"),
        ("null", "bad_message"),
        ('"ping"', "bad_message"),
        ('{"type": "mic.state", "on": "yes"}', "invalid_field"),
        ('{"type": "avatar.event", "event": ["stream/started"]}', "invalid_field"),
        ('{"type": "avatar.event", "event": "avatar.transcription"}', "missing_field"),
        ('{"type": "avatar.event", "event": "avatar.transcription", "text": 7}', "invalid_field"),
        ('{"type": "avatar.event", "event": "avatar.transcription", "text": "\\u0000"}',
         "invalid_text"),
        ('{"type": "avatar.event", "event": "avatar.transcription", "text": "'
         + "x" * 10_001 + '"}', "too_large"),
        ('{"type": "avatar.event", "event": "avatar.speak_started"}', "invalid_field"),
        ('{"type": "rtc.ice", "candidate": "candidate:1", "sdpMLineIndex": true}', "bad_ice"),
        ('{"type": "rtc.ice", "candidate": "candidate:1", "sdpMLineIndex": 1e3}', "bad_ice"),
        ('{"type": "session.end", "reason": null}', "invalid_field"),
    ],
)
def test_crafted_frames_are_refused_with_a_specific_code(raw, code):
    assert refused(raw) == code


def test_liveavatars_transcript_is_relayed_with_its_text():
    # LiveAvatar FULL mode's agent-response event (https://docs.liveavatar.com/docs/full-mode/events)
    raw = json.dumps({"type": "avatar.event", "event": "avatar.transcription",
                      "text": "I can answer questions.", "source_event_id": None})
    assert parse_text_frame(raw) == ClientMessage(
        "avatar.event", {"event": "avatar.transcription", "text": "I can answer questions."}
    )
    plain = parse_text_frame('{"type": "avatar.event", "event": "stream/done", "text": "x"}')
    assert plain.data == {"event": "stream/done"}


def test_moderate_nesting_inside_an_ignored_field_is_fine():
    raw = json.dumps({"type": "ping", "t": 3, "extra": [[[[{"a": [1]}]]]]})
    assert parse_text_frame(raw) == ClientMessage("ping", {"t": 3})


@pytest.mark.parametrize(("t", "echoed"), [(5, 5), (1.5, 1.5), (2**60, None), (True, None),
                                           ("5", None), (None, None)])
def test_ping_echoes_only_plain_numbers(t, echoed):
    assert parse_text_frame(json.dumps({"type": "ping", "t": t})).data == {"t": echoed}


def test_a_chat_text_is_trimmed_and_unicode_beyond_the_bmp_is_fine():
    parsed = parse_text_frame(json.dumps({"type": "chat.text", "text": "  héllo 🌙  "}))
    assert parsed == ClientMessage("chat.text", {"text": "héllo 🌙"})


@pytest.mark.parametrize(("text", "ok"), [("plain", True), ("🌙", True), ("\ud83d", False),
                                          ("a\x00b", False), ("tab\tnewline\n", True)])
def test_is_storable_text(text, ok):
    assert is_storable_text(text) is ok


@pytest.mark.parametrize(("data", "code"), [(b"", "bad_audio"), (b"\x01", "bad_audio"),
                                            (b"\x00" * (64 * 1024 + 2), "too_large")])
def test_bad_audio_frames(data, code):
    with pytest.raises(ProtocolError) as caught:
        check_audio_frame(data)
    assert caught.value.code == code
