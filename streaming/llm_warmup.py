"""Reading an avatar's prompt into the local engine's LLM before the conversation's first question.

The engine's LLM keeps the state of the prompts it has read (engine/llm.py), so a turn reads
only what is new since the conversation's turn before. The first turn has no turn before: it
reads the whole system prompt (about 190 tokens with the engine's hint and example), and its
answer started about 1.9 s after Send in `make run`, against about 0.6 s for later turns. So
once a conversation's stream is live (its greeting already on its way), the first turn's prompt
up to the question is sent once, for one token, by the `replies` worker; when the question
comes, the engine finds that prompt's state in its cache.

Only when the LLM is the local engine: a cloud LLM would bill the request, and it keeps no
state of ours to reuse. Only for avatars whose replies this product's LLM writes (not a D-ID
agent's or a LiveAvatar FULL room's).
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from django.conf import settings
from kombu.exceptions import OperationalError as BrokerError

from conversations.models import Conversation

from .liveavatar_replies import writes_replies
from .providers.registry import is_local_engine
from .replies import prompt_for

log = logging.getLogger(__name__)

# Stands in for the question: the prompt is the same up to the question's first token.
STAND_IN_QUESTION = "Hello."


def wanted(avatar, avatar_provider) -> bool:
    """Whether this conversation's replies come from the local engine's LLM."""
    return (
        settings.LLM_WARMUP
        and is_local_engine(settings.GROQ_BASE_URL)
        and not avatar.answers_through_agent
        and not writes_replies(avatar_provider)
    )


async def warm(conversation_id, *, llm) -> None:
    """Send the first turn's prompt for one token."""
    conversation = await Conversation.objects.select_related("avatar__persona").aget(
        pk=conversation_id
    )
    messages = await prompt_for(conversation, asked=STAND_IN_QUESTION)
    async for _ in llm.stream(messages, max_tokens=1):
        pass


def publish(conversation_id) -> bool:
    """Queue the warm-up (sync: a blocking socket write); False, logged, if the broker is down."""
    from .tasks import warm_llm  # tasks imports this module

    try:
        warm_llm.apply_async((str(conversation_id),), retry=False)
    except (BrokerError, OSError) as exc:
        log.info("conversation %s: LLM warm-up not queued: %s", conversation_id, exc)
        return False
    return True


async def request(conversation: Conversation, avatar_provider) -> bool:
    """Queue the warm-up for this conversation if its replies come from the local engine."""
    avatar = await sync_to_async(lambda: conversation.avatar)()
    if not wanted(avatar, avatar_provider):
        return False
    return await sync_to_async(publish, thread_sensitive=False)(conversation.pk)
