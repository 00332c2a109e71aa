"""How long each avatar provider keeps an idle stream, in one table: the reaper (through the
conversation's idle timeout) and the keep-alive schedule both read it. Pure: no Django, no I/O.

- D-ID Talks and Clips streams end "if no messages are sent within the session for 5 minutes";
  `session_timeout` (≤ 300 s, "can only be used with proper permissions") sets it per stream.
  D-ID documents no keep-alive call for them either, so they are replaced before the end like
  agents streams (below). https://docs.d-id.com/reference/talks-streams-overview
- D-ID Agents streams end after 2 minutes without messages. D-ID has no keep-alive call; its SDK
  reconnects when the session expires and continues on the same chat id
  (https://github.com/de-id/agents-sdk, `reconnect()`), and so do we, before the end: while the
  page is attached, the socket replaces a stream that has been quiet for nearly its limit
  (`renewal_due_in`, avatar_stream.py). The chat is kept per conversation (agents.AgentChat), so
  the new stream resumes the same conversation.
  https://docs.d-id.com/reference/agents-streams-overview
- HeyGen sessions end after `activity_idle_timeout` (30..3600 s, default 120) without activity;
  POST /v1/streaming.keep_alive resets the timer. https://docs.heygen.com/reference/keep-alive
- LiveAvatar sessions end after 5 minutes idle (https://docs.liveavatar.com/api-reference/sessions/keep-session-alive).
"""

from __future__ import annotations

from dataclasses import dataclass

# Keep-alive runs this many seconds before the provider would drop the stream: one beat period
# plus slack for a slow worker.
KEEP_ALIVE_MARGIN = 45
# A stream is replaced this many seconds before its provider would drop it: time to open the
# new one (a few seconds at D-ID) before the old one goes dark.
RENEW_MARGIN = 15


@dataclass(frozen=True)
class StreamLifetime:
    default_seconds: int  # the vendor's idle limit when we ask for nothing else
    max_seconds: int  # the most an avatar's `session_timeout` can ask for
    configurable: bool  # whether the avatar's `session_timeout` is sent to the vendor
    keep_alive: bool  # whether the vendor has a call that resets the idle timer
    min_seconds: int = 1  # the least the vendor accepts
    # Without a keep-alive call: whether the socket replaces a quiet stream before it ends.
    renew_before_end: bool = False


LIFETIMES: dict[str, StreamLifetime] = {
    "did_talks": StreamLifetime(300, 300, configurable=True, keep_alive=False,
                                renew_before_end=True),
    "did_clips": StreamLifetime(300, 300, configurable=True, keep_alive=False,
                                renew_before_end=True),
    # Our agents streams do not send session_timeout (it needs permissions D-ID grants per account).
    "did_agents": StreamLifetime(120, 120, configurable=False, keep_alive=False,
                                 renew_before_end=True),
    "heygen": StreamLifetime(120, 3599, configurable=True, keep_alive=True, min_seconds=30),
    # LiveAvatar ends a session after 5 idle minutes. Its LITE-mode keep-alive is a message on the
    # command socket held by the process that speaks, not by the beat's worker, so the beat
    # leaves it alone; 5 minutes is also our default idle timeout.
    "liveavatar": StreamLifetime(300, 300, configurable=False, keep_alive=False),
}
_UNKNOWN = StreamLifetime(120, 120, configurable=False, keep_alive=False)  # the shortest known


def lifetime(provider: str) -> StreamLifetime:
    return LIFETIMES.get(provider, _UNKNOWN)


def stream_idle_seconds(provider: str, session_timeout: int | None) -> int:
    """How long `provider` keeps this avatar's stream without a message."""
    rule = lifetime(provider)
    if not rule.configurable or not session_timeout:
        return rule.default_seconds
    return max(rule.min_seconds, min(session_timeout, rule.max_seconds))


def conversation_idle_timeout(provider: str, session_timeout: int | None, ceiling: int) -> int:
    """How long a conversation may sit idle before the reaper ends it: what the avatar and the
    site allow, but never past the stream's own end unless a keep-alive call can push it back."""
    wanted = max(1, min(session_timeout or ceiling, ceiling))
    if lifetime(provider).keep_alive:
        return wanted
    return min(wanted, stream_idle_seconds(provider, session_timeout))


def keep_alive_due(provider: str, session_timeout: int | None, idle_seconds: float) -> bool:
    """Whether a stream idle this long needs a keep-alive now to outlive the next beat."""
    if not lifetime(provider).keep_alive:
        return False
    limit = stream_idle_seconds(provider, session_timeout)
    return idle_seconds >= max(0, limit - KEEP_ALIVE_MARGIN)


def renewal_due_in(provider: str, session_timeout: int | None, quiet_seconds: float) -> float | None:
    """Seconds until a stream quiet for `quiet_seconds` should be replaced (0: now), or None
    when `provider`'s streams are not replaced (they last, or a keep-alive call holds them)."""
    rule = lifetime(provider)
    if not rule.renew_before_end or rule.keep_alive:
        return None
    limit = stream_idle_seconds(provider, session_timeout)
    margin = min(RENEW_MARGIN, limit / 2)  # a short limit still gets half its life
    return max(0.0, limit - margin - quiet_seconds)
