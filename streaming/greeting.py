"""The avatar's welcome line: said once per conversation, as soon as its stream is live.

Once per conversation, not per socket: a reconnect or a takeover opens a new stream, but the
user has been greeted already. The claim is one atomic Redis SET NX, so two sockets (or two
daphne processes) never both say it.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async

from conversations.models import Conversation

from . import verbatim
from .providers.avatar.base import AvatarProvider
from .providers.errors import ProviderError
from .redis_client import client

log = logging.getLogger(__name__)

_TTL_SECONDS = 7 * 24 * 3600  # longer than any conversation stays open


def greeting_for(avatar) -> str:
    """What the avatar says first: a D-ID Agents avatar with an agent managed here says that
    agent's greeting (the one D-ID knows it by); any other avatar its persona's."""
    agent = avatar.managed_agent if avatar.provider == avatar.Provider.DID_AGENTS else None
    if agent is not None:
        return agent.greeting.strip()
    return avatar.persona.greeting.strip() if avatar.persona is not None else ""


async def claim(conversation_id) -> bool:
    """True for the one caller that may greet in this conversation."""
    key = f"livepersona:greeted:{conversation_id}"
    return bool(await client().set(key, 1, nx=True, ex=_TTL_SECONDS))


async def greet(conversation: Conversation, provider: AvatarProvider) -> bool:
    """Say the greeting if the conversation has one and has not been greeted; True if said.
    The line is saved as the avatar's message before it is relayed (verbatim.say)."""
    # The avatar and its persona/agent are loaded in a thread: the row may have been refreshed.
    text = await sync_to_async(lambda: greeting_for(conversation.avatar))()
    if not text or not await claim(conversation.pk):
        return False
    try:
        await verbatim.say(conversation, text, provider=provider)
    except verbatim.NoStream:
        log.info("conversation %s: no live stream to greet on", conversation.pk)
        return False
    except ProviderError as exc:  # the page was told (verbatim.say published the error)
        log.warning("conversation %s: greeting failed: %s", conversation.pk, exc.code)
        return False
    return True
