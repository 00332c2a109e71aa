"""docs/protocol.md, generated from the code: `python -m streaming.protocol_doc` rewrites it, and
tests/unit/test_docs.py fails when the page and the code differ.

Frames are not listed by hand. Inbound ones are `protocol.PARSERS`, with the fields each parser
reads; outbound ones are found by reading the product's source for the calls that build them
(`message(...)`, `frame(...)`, `error(...)`, `events.publish(...)`, a provider's `relay(...)`), so
a new frame or field reaches the page on the next run. Only what each frame *means* is written
here, once. Pure: reads source files, imports only the pure protocol, error-code and close-code
modules.
"""

from __future__ import annotations

import ast
import inspect
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import close_codes as close_codes_table
from . import error_codes, protocol

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "protocol.md"
COMMAND = "python -m streaming.protocol_doc"
# Where frames for the page are built; engine/ is a separate program and never talks to the page.
SOURCE_DIRS = ("streaming", "api", "conversations", "avatars", "frontend")

# What each frame means, the page's frames first. A frame missing here fails the drift test.
INBOUND = {
    "rtc.answer": "The browser's SDP answer to the avatar's `rtc.offer`.",
    "rtc.ice": "One of the browser's ICE candidates, relayed to the avatar service; an empty or "
               "null `candidate` is the end of candidates.",
    "chat.text": "Typed text: saved as the user's message, then answered like speech.",
    "avatar.interrupt": "Stop the avatar (and the reply being written) now.",
    "avatar.event": "What the avatar's media says it is doing (D-ID's data-channel events): "
                    "`stream/started` marks the reply as audible, `stream/done` as finished. "
                    "`avatar.transcription` with `text` relays the words LiveAvatar's own LLM "
                    "said (FULL mode with a context), saved into the reply waiting for them.",
    "mic.state": "The microphone was switched on or off; off closes the speech-recognition stream.",
    "session.end": "End the conversation: the End button (`user`) or a closing tab "
                   "(`page_closed`).",
    "ping": "Keep-alive; answered with `pong` echoing `t`, which the page uses to measure the "
            "round trip.",
}
OUTBOUND = {
    "session.created": "The socket is accepted; `transport` says how the page receives the "
                       "avatar (`webrtc` or `livekit`).",
    "rtc.offer": "The avatar service's SDP offer and the ICE servers to use (the service's own, "
                 "then `ICE_SERVERS`).",
    "stream.replacing": "The avatar's stream is about to be replaced before the provider drops "
                        "it for being quiet: the video connection drops for a moment and a new "
                        "`rtc.offer` follows. The page shows \"reconnecting\", not an error.",
    "livekit.join": "For LiveKit-based avatars (HeyGen, LiveAvatar): the room URL and the "
                    "participant token the page joins with.",
    "livekit.data": "A command the page publishes into the LiveKit room on the server's behalf "
                    "(LiveAvatar FULL mode); no vendor key reaches the browser.",
    "avatar.provider_event": "An event from the avatar service's own socket (LiveAvatar), passed "
                             "on for the page to follow the avatar's state.",
    "transcript.interim": "The words heard so far in the current utterance (not saved); the "
                          "avatar's own words heard back (echo) are not sent.",
    "transcript.final": "The user's utterance or typed text, saved as a Message: carries its id.",
    "reply.started": "The assistant's reply is being written: its Message id and the question's.",
    "reply.delta": "The next piece of the reply's text, as the LLM streams it.",
    "reply.interrupted": "The avatar was cut off before it finished saying a written reply: that "
                         "reply's Message id (now marked interrupted).",
    "reply.done": "The reply is complete (or was cut off): its full text, how many sentences went "
                  "to the avatar, and its timings (see measuring.md).",
    "avatar.state": "The avatar started (`speaking`) or stopped (`idle`) speaking.",
    "avatar.interrupt": "Stop the avatar now: D-ID streams stop mid-sentence only through the "
                        "page's data channel.",
    "session.ended": "The conversation is over; `reason` is one of the endings listed below and "
                     "`message` is text for a person. The socket closes next.",
    "pong": "The answer to `ping`, echoing its `t`.",
}
# Set apart from the literal above: tests/unit/test_error_codes.py reads every `{"error": ...}`
# dict literal in the product as an error code.
OUTBOUND["error"] = (
    "Something failed or was refused: `code` is stable (listed below), `message` is text for a "
    "person. The session goes on unless `session.ended` follows."
)
_BUILDERS = {"message", "frame"}  # message(kind, **fields), frame(kind, **fields)
_BUILDER_MODULES = {"protocol", "turns", "events"}


@dataclass
class Frame:
    type: str
    fields: list[str] = field(default_factory=list)
    senders: set[str] = field(default_factory=set)

    def add(self, names, sender: str) -> None:
        self.fields += [n for n in names if n not in self.fields]
        self.senders.add(sender)


def _callee(call: ast.Call) -> str | None:
    """The called name when it is bare (`message(...)`) or on a builder module
    (`protocol.message(...)`), or any `.relay(...)`/`.send_json(...)` method."""
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id in _BUILDER_MODULES:
            return func.attr
        if func.attr in ("relay", "send_json"):
            return func.attr
    return None


def _text(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dict_keys(node: ast.AST) -> list[str]:
    if not isinstance(node, ast.Dict):
        return []
    return [k for k in map(_text, node.keys) if k is not None]


def _frame_in(call: ast.Call) -> tuple[str, list[str]] | None:
    """(type, fields) when this call builds a frame for the page."""
    name, args = _callee(call), call.args
    keywords = [k.arg for k in call.keywords if k.arg]
    if name in _BUILDERS and args and _text(args[0]):
        return _text(args[0]), keywords
    if name == "error" and len(args) == 2:
        return "error", ["code", "message"]
    if name == "as_message" and not args:  # ProtocolError.as_message()
        return "error", ["code", "message"]
    if name == "publish" and len(args) >= 2 and _text(args[1]):
        return _text(args[1]), keywords
    if name == "relay" and len(args) == 3 and _text(args[1]):
        return _text(args[1]), _dict_keys(args[2])
    if name == "send_json" and args and isinstance(args[0], ast.Dict):
        keys = _dict_keys(args[0])
        kind = dict(zip(keys, map(_text, args[0].values), strict=False)).get("type")
        if kind:
            return kind, [k for k in keys if k != "type"]
    return None


def _sources():
    for folder in SOURCE_DIRS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            # protocol.py defines the builders (calling them there sends nothing); an engine
            # package speaks vendors' protocols, never the page's.
            skip = {"migrations", "engine"} & set(path.relative_to(ROOT).parts)
            if skip or path.name in ("protocol.py", "protocol_doc.py"):
                continue
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path))


def outbound_frames() -> dict[str, Frame]:
    """Every frame the server sends the page, with its fields and the modules that send it."""
    frames: dict[str, Frame] = {}
    for module, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and (found := _frame_in(node)):
                kind, names = found
                frames.setdefault(kind, Frame(kind)).add(names, module)
    return dict(sorted(frames.items(), key=lambda item: _order(item[0])))


def _order(kind: str) -> tuple[int, str]:
    known = list(OUTBOUND)
    return (known.index(kind), "") if kind in known else (len(known), kind)


def inbound_fields(kind: str) -> list[str]:
    """The fields a parser reads, with their limits: `_string(payload, "sdp", limit=...)` and
    `payload.get("on")` calls in its source."""
    tree = ast.parse(inspect.getsource(protocol.PARSERS[kind]))
    calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)),
                   key=lambda n: (n.lineno, n.col_offset))
    found: dict[str, str] = {}
    for call in calls:
        func, args = call.func, call.args
        if isinstance(func, ast.Name) and func.id == "_string" and len(args) > 1 and _text(args[1]):
            options = {k.arg: k.value for k in call.keywords}
            limit = options.get("limit")
            size = getattr(protocol, limit.id) if isinstance(limit, ast.Name) else _literal(limit)
            optional = _literal(options.get("required")) is False
            found[_text(args[1])] = f"string ≤ {size} chars" + (", optional" if optional else "")
        elif isinstance(func, ast.Attribute) and func.attr == "get" and args and _text(args[0]):
            found.setdefault(_text(args[0]), "")
    return [f"`{name}` ({note})" if note else f"`{name}`" for name, note in found.items()]


def _literal(node):
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def close_codes() -> list[tuple[int, str]]:
    """Codes the server closes the page's socket with: streaming/close_codes.py, the table the
    consumer closes with (tests/unit/test_docs.py checks that every `close(code=...)` is in it)."""
    return sorted(close_codes_table.MEANINGS.items())


def _route() -> str:
    text = (ROOT / "streaming" / "routing.py").read_text()
    match = re.search(r'path\("([^"]+)"', text)
    return "/" + match.group(1) if match else "(see streaming/routing.py)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render() -> str:
    out = [
        "# The WebSocket protocol",
        "",
        f"<!-- Generated by `{COMMAND}` from streaming/protocol.py and the modules that send",
        "frames. Do not edit by hand: change the code (or the meanings in",
        "streaming/protocol_doc.py) and run the command again. -->",
        "",
        f"One WebSocket per live conversation: `{_route()}` (`streaming/routing.py`,",
        "`streaming/consumers.py`). It needs a signed-in session cookie or an API token",
        "(`Authorization: Bearer ...`), and an `Origin` of the site. Every text frame is a JSON",
        "object with a `type`; audio goes up as binary frames. Messages for the page from other",
        "processes (the Celery worker writing a reply, the idle reaper, the JSON API) reach the",
        "socket through the conversation's channel-layer group `conversation.<id>`",
        "(`streaming/events.py`) and are relayed as they are.",
        "",
        "## Page → server: text frames",
        "",
        "Parsed and checked by `streaming.protocol.parse_text_frame`; a refused frame is answered",
        "with an `error` frame and the session goes on.",
        "",
        "| Type | Fields | Meaning |",
        "|---|---|---|",
    ]
    for kind in protocol.PARSERS:
        fields = ", ".join(inbound_fields(kind)) or "—"
        out.append(f"| `{kind}` | {_cell(fields)} | {_cell(INBOUND.get(kind, '(undescribed)'))} |")
    out += [
        "",
        "## Page → server: binary frames",
        "",
        "Microphone audio: 16 kHz mono PCM16 (little-endian), a whole number of 2-byte samples, at",
        f"most {protocol.MAX_AUDIO_FRAME_BYTES} bytes a frame (`check_audio_frame`). The first frame",
        "opens the speech-recognition stream.",
        "",
        "## Limits",
        "",
        "| Constant in `streaming/protocol.py` | Value |",
        "|---|---|",
    ]
    for name, value in vars(protocol).items():
        if name.startswith("MAX_") and isinstance(value, int):
            out.append(f"| `{name}` | {value} |")
    out += [
        "",
        "## Server → page",
        "",
        "| Type | Fields | Sent from | Meaning |",
        "|---|---|---|---|",
    ]
    for kind, frame in outbound_frames().items():
        fields = ", ".join(f"`{name}`" for name in frame.fields) or "—"
        senders = ", ".join(f"`{s}`" for s in sorted(frame.senders))
        meaning = OUTBOUND.get(kind, "(undescribed)")
        out.append(f"| `{kind}` | {fields} | {senders} | {_cell(meaning)} |")
    out += [
        "",
        "## Close codes",
        "",
        "From `streaming/close_codes.py`, the table the server closes the socket with. After 1000",
        "or a 4xxx code the page stops; after any other (1011, a dropped connection) it reconnects",
        "(`frontend/static/frontend/signaling.js`).",
        "",
        "| Code | Meaning |",
        "|---|---|",
    ]
    out += [f"| {code} | {_cell(meaning)} |" for code, meaning in close_codes()]
    out += [
        "",
        "## Error codes",
        "",
        "From `streaming/error_codes.py`, the one list the server and the page share (the page's",
        "copy, `frontend/static/frontend/error-codes.js`, is generated by",
        "`python -m streaming.error_codes`). Codes the server never sends are raised by the page",
        "itself.",
        "",
        "| Code | Service that failed | Sent by | Shown to the user |",
        "|---|---|---|---|",
    ]
    for code, entry in error_codes.CODES.items():
        by = "server" if entry.sent_by_server else "page"
        out.append(f"| `{code}` | {entry.service} | {by} | {_cell(entry.text)} |")
    out += ["", "## `session.ended` reasons", "", "| Reason | Shown to the user |", "|---|---|"]
    out += [f"| `{reason}` | {_cell(text)} |" for reason, text in error_codes.ENDINGS.items()]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    DOC_PATH.write_text(render())
    sys.stdout.write(f"wrote {DOC_PATH.relative_to(ROOT)}\n")
