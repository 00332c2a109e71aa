"""Every error code a person can be shown, the service it blames, and what to tell them.

The single list for the server and the page: `frontend/static/frontend/error-codes.js` is generated
from it (`python -m streaming.error_codes`) and a test fails when the two differ. Codes name the
service that failed (`stt_unavailable`, `llm_auth`, `avatar_quota`, ...), so a speech or language
model outage no longer reads as the avatar's. Pure data: no Django, no I/O.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

# Who failed. The three cloud services prefix their codes; "server" is LivePersona itself (a
# frame it refused, a limit), "browser" is the page's own media and microphone.
AVATAR, STT, LLM = "avatar", "stt", "llm"
SERVER, BROWSER = "server", "browser"


@dataclass(frozen=True)
class Service:
    """A cloud service as provider errors name it: `key` prefixes codes, `name` is for people."""

    key: str
    name: str

    def __str__(self) -> str:  # messages say f"The {service} ..."
        return self.name


@dataclass(frozen=True)
class ErrorCode:
    code: str
    service: str
    text: str
    sent_by_server: bool = True  # False: only the page raises it (microphone, ICE, HTTP start)


def _service_codes(service: str, texts: dict[str, str]) -> list[ErrorCode]:
    return [ErrorCode(f"{service}_{kind}", service, text) for kind, text in texts.items()]


# A provider error's kind (from errors.py) becomes the code `{service}_{kind}`.
_AVATAR = _service_codes(AVATAR, {
    "unavailable": "The avatar service isn't reachable right now. Please try again in a moment.",
    "rate_limited": "The avatar service is busy (too many requests). Please try again shortly.",
    "auth": "The avatar service refused our credentials. An administrator needs to check the "
            "API key and the account's permissions.",
    "quota": "The avatar service account has run out of credits.",
    "rejected": "The avatar service refused the request. An administrator needs to check the "
                "avatar's settings.",
    "not_found": "The avatar service lost this session. Start a new conversation.",
    "not_configured": "This avatar's service isn't configured yet. Ask an administrator.",
    "busy": "All avatar sessions of our account are in use. Please try again in a few minutes.",
    "error": "The avatar service reported an error.",
})
_STT = _service_codes(STT, {
    "unavailable": "Speech recognition isn't available right now. You can still type.",
    "rate_limited": "Speech recognition is busy (too many requests). Try again shortly, or type.",
    "auth": "The speech recognition service refused our credentials. An administrator needs to "
            "check its API key. You can still type.",
    "quota": "The speech recognition account has run out of credits. You can still type.",
    "rejected": "The speech recognition service refused our request. An administrator needs to "
                "check its settings. You can still type.",
    "error": "Speech recognition stopped. Turn the mic off and on again, or type instead.",
})
_LLM = _service_codes(LLM, {
    "unavailable": "The assistant couldn't answer just now: its language model isn't reachable. "
                   "Please try again.",
    "rate_limited": "The assistant's language model is busy (too many requests). Please try "
                    "again shortly.",
    "auth": "The language model service refused our credentials. An administrator needs to "
            "check its API key.",
    "quota": "The language model account has run out of credits.",
    "rejected": "The language model service refused our request. An administrator needs to "
                "check the model settings.",
})

# What LivePersona itself refuses: limits, and frames the page should never have sent.
_UNREADABLE = "The server couldn't read what the page sent. Reloading the page may help."
_SERVER = [
    ErrorCode("session_limit", SERVER, "You already have the maximum number of live "
              "conversations open. End one and try again."),
    ErrorCode("too_large", SERVER, "That message is too long."),
    ErrorCode("empty_text", SERVER, "The message is empty."),
    ErrorCode("no_stream", SERVER, "The avatar is still connecting; try again in a second."),
    ErrorCode("bad_audio", SERVER, "The server couldn't read the microphone audio."),
    # Per-user quotas (streaming/quotas.py); the server's own message says when it renews.
    ErrorCode("chat_rate_limited", SERVER, "You are sending messages too fast; wait a moment."),
    ErrorCode("voice_rate_limited", SERVER, "You are speaking turns too fast; wait a moment."),
    ErrorCode("signaling_rate_limited", SERVER, "The page sent too many connection messages; "
              "wait a moment."),
    ErrorCode("audio_quota", SERVER, "You have used today's allowance of microphone audio. "
              "You can still type."),
    ErrorCode("token_quota", SERVER, "You have used today's allowance of answers."),
    ErrorCode("server_busy", SERVER, "The server is busy starting conversations. Try again."),
    ErrorCode("server_unavailable", SERVER, "The server cannot start conversations right now. "
              "Try again in a minute."),
    # A reply that could not complete (streaming/reply_watch.py).
    ErrorCode("reply_lost", SERVER, "The avatar's answer was lost (a server process stopped). "
              "Please ask again."),
    ErrorCode("broker_unavailable", SERVER, "The server could not queue the avatar's answer. "
              "Please try again."),
    ErrorCode("reply_timeout", SERVER, "The avatar took too long to answer. Please ask again."),
    ErrorCode("reply_failed", SERVER, "Something went wrong while the avatar was answering. "
              "Please ask again."),
    ErrorCode("language_unsupported", SERVER, "This avatar's language isn't supported here: the "
              "local engine speaks English only. An administrator needs to set the avatar's "
              "language to English or use the cloud services."),
    *(ErrorCode(code, SERVER, _UNREADABLE) for code in (
        "bad_json", "bad_message", "missing_field", "invalid_field", "unknown_type", "bad_sdp",
        "bad_ice", "too_deep", "bad_number", "invalid_text",
    )),
    ErrorCode("session_busy", SERVER, "This conversation is still starting in another tab or "
              "window; try again in a moment."),
    ErrorCode("server_error", SERVER, "Something went wrong on the server. The conversation may "
              "need to be started again."),
]

# Raised in the browser, never by the server.
_BROWSER = [
    ErrorCode("ice_failed", AVATAR, "Couldn't open the video connection to the avatar (network or "
              "firewall). A TURN server may be needed.", sent_by_server=False),
    ErrorCode("media_failed", AVATAR, "The video connection to the avatar failed.",
              sent_by_server=False),
    ErrorCode("mic_denied", BROWSER, "Microphone access was denied. Allow it in the browser's "
              "site settings, or type instead.", sent_by_server=False),
    ErrorCode("mic_missing", BROWSER, "No microphone was found. You can still type.",
              sent_by_server=False),
    ErrorCode("mic_failed", BROWSER, "The microphone couldn't be started.", sent_by_server=False),
    ErrorCode("start_failed", SERVER, "Couldn't start the conversation.", sent_by_server=False),
    ErrorCode("logged_out", SERVER, "Your login has expired. Reload the page and log in again.",
              sent_by_server=False),
]

CODES: dict[str, ErrorCode] = {
    entry.code: entry for entry in (*_AVATAR, *_STT, *_LLM, *_SERVER, *_BROWSER)
}

# `session.ended` reasons: every Conversation.EndReason, plus the page's own `connection_lost`.
ENDINGS: dict[str, str] = {
    "user": "You ended the conversation.",
    "disconnect": "The conversation ended because the page lost its connection.",
    "timeout": "The conversation ended after being idle for a while.",
    "provider_error": "The conversation ended because the avatar service failed.",
    "stt_error": "The conversation ended because speech recognition failed.",
    "server_error": "The conversation ended because of a server error.",
    "connection_lost": "Lost the connection to the server.",
    # Not a Conversation.EndReason: the conversation goes on, in another tab or window.
    "taken_over": "This conversation continues in another tab or window.",
}
FAILED_ENDINGS = ("provider_error", "stt_error", "server_error", "connection_lost")


def provider_code(service: str, kind: str) -> str:
    """`{service}_{kind}`, which must be in CODES (KeyError otherwise: a code nobody can explain)."""
    return CODES[f"{service}_{kind}"].code


def has_kind(service: str, kind: str) -> bool:
    return f"{service}_{kind}" in CODES


# The page's copy -------------------------------------------------------------------------------

JS_PATH = Path(__file__).resolve().parents[1] / "frontend" / "static" / "frontend" / "error-codes.js"


def _json(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def javascript() -> str:
    """The ES module the page imports (JSON is valid JavaScript, so json.dumps writes it)."""
    errors = {code: {"service": e.service, "text": e.text} for code, e in CODES.items()}
    return (
        "// Generated from streaming/error_codes.py by `python -m streaming.error_codes`: do not\n"
        "// edit. Every error code (with the service it blames) and session ending the page shows.\n"
        f"export const ERRORS = Object.freeze({_json(errors)});\n\n"
        f"export const ENDINGS = Object.freeze({_json(ENDINGS)});\n\n"
        f"export const FAILED_ENDINGS = Object.freeze({_json(list(FAILED_ENDINGS))});\n"
    )


if __name__ == "__main__":
    JS_PATH.write_text(javascript())
    sys.stdout.write(f"wrote {JS_PATH}\n")
