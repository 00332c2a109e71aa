"""Per-user quotas: what is limited, by how much, and what the user is told when refused.

Pure policy (no Redis, no Django models): `quota_store` counts in Redis, per user rather than
per socket, so a reconnect does not reset anything. Each refusal has its own error code, which
the page explains.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MINUTE = 60
DAY = 24 * 3600

# PCM the page streams: 16 kHz, 16-bit mono (see protocol.check_audio_frame).
AUDIO_BYTES_PER_SECOND = 16000 * 2


@dataclass(frozen=True)
class Quota:
    name: str
    limit: int
    window: int  # seconds
    code: str
    what: str  # "chat messages", for the refusal text
    # Budgets (a cost per use) are counted in a fixed window; turn rates in a moving window.
    budget: bool = False


@dataclass(frozen=True)
class Refusal:
    code: str
    message: str
    retry_after: int  # seconds

    def as_error(self) -> dict:
        """The protocol's error message."""
        return {"type": "error", "code": self.code, "message": self.message,
                "retry_after": self.retry_after}


def from_settings(settings) -> dict[str, Quota]:
    """Every per-user quota, from Django settings (a 0 limit switches a quota off)."""
    quotas = [
        Quota("chat_turns", settings.CHAT_MESSAGES_PER_MINUTE, MINUTE, "chat_rate_limited",
              "typed messages"),
        Quota("voice_turns", settings.VOICE_TURNS_PER_MINUTE, MINUTE, "voice_rate_limited",
              "spoken turns"),
        # Each answer or ICE candidate is one HTTP call to the avatar provider.
        Quota("signaling", settings.SIGNALING_FRAMES_PER_MINUTE, MINUTE,
              "signaling_rate_limited", "connection messages"),
        Quota("audio_ms", settings.AUDIO_SECONDS_PER_DAY * 1000, DAY, "audio_quota",
              "microphone audio", budget=True),
        Quota("llm_tokens", settings.LLM_TOKENS_PER_DAY, DAY, "token_quota",
              "answers", budget=True),
    ]
    return {quota.name: quota for quota in quotas if quota.limit > 0}


def refusal(quota: Quota, retry_after: float) -> Refusal:
    wait = max(1, math.ceil(retry_after))
    if quota.window == DAY:
        message = (f"You have used today's allowance of {quota.what}. "
                   f"It renews in {_duration(wait)}.")
    else:
        message = (f"You are sending {quota.what} too fast. "
                   f"Wait {_duration(wait)} and try again.")
    return Refusal(quota.code, message, wait)


def session_refusal(live: int, limit: int) -> Refusal | None:
    """Refuse a new session when the user already has `limit` open."""
    if live < limit:
        return None
    return Refusal(
        "session_limit",
        f"You already have {live} live conversations open. End one before starting another.",
        0,
    )


def provider_account(provider: str) -> str:
    """The vendor account an avatar provider bills (D-ID's three APIs share one account)."""
    return "did" if provider.startswith("did_") else provider


def provider_refusal(provider: str, live: int, limits: Mapping[str, int]) -> Refusal | None:
    """Refuse a new session when the vendor account is at its concurrent-session cap
    (HeyGen's trial allows 3 concurrent streaming sessions); no limit, or 0, is no cap."""
    limit = limits.get(provider_account(provider))
    if not limit or limit < 0 or live < limit:
        return None
    return Refusal(
        "avatar_busy",
        "This avatar's service is at its limit of simultaneous conversations. "
        "Try again in a few minutes.",
        60,
    )


def estimate_tokens(text: str) -> int:
    """About four characters a token for English (the LLM client does not report usage)."""
    return math.ceil(len(text) / 4)


def llm_tokens(prompt: Iterable[Mapping[str, str]], answer: str) -> int:
    """Tokens a reply cost: the prompt it sent and the answer it got, with a few per message."""
    return sum(estimate_tokens(m["content"]) + 4 for m in prompt) + estimate_tokens(answer)


class AudioMeter:
    """Counts microphone audio and releases it in whole chunks, so the consumer charges the
    quota about once a second instead of once a frame."""

    def __init__(self, chunk_ms: int = 1000) -> None:
        self.chunk_ms = chunk_ms
        self._bytes = 0

    def add(self, nbytes: int) -> int:
        """Milliseconds to charge now (0 until a whole chunk has come in)."""
        self._bytes += nbytes
        ms = self._bytes * 1000 // AUDIO_BYTES_PER_SECOND
        if ms < self.chunk_ms:
            return 0
        self._bytes -= ms * AUDIO_BYTES_PER_SECOND // 1000
        return ms


def _duration(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"
