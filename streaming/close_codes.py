"""The codes the server closes the page's socket with, and what each means: the one table the
consumer closes with and docs/protocol.md is generated from (`python -m streaming.protocol_doc`).

4000-4999 are the application's own; the page treats 1000 and all of them as final (no
reconnect). Pure: no imports.
"""

from __future__ import annotations

NORMAL = 1000
STREAM_FAILED = 1011
UNAUTHENTICATED = 4401
NOT_FOUND = 4404
TAKEN_OVER = 4409  # another socket (tab, window, device) took the conversation over
ENDED = 4410
TOO_MANY = 4429

MEANINGS: dict[int, str] = {
    NORMAL: "Normal close, after `session.ended`.",
    STREAM_FAILED: "The avatar stream could not be opened (after `error` and `session.ended`).",
    UNAUTHENTICATED: "Not signed in and no valid API token.",
    NOT_FOUND: "No such conversation, or another user's (the same answer for both).",
    TAKEN_OVER: "Another socket took the conversation over (after `session.ended`), or is still "
                "opening its stream (after `error` `session_busy`).",
    ENDED: "The conversation had already ended (after `session.ended`).",
    TOO_MANY: "Too many live conversations for this user (after `error` `session_limit`).",
}
