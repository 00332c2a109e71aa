"""One avatar reply written by a D-ID agent's own LLM and knowledge, spoken on our stream.

The sibling of replies.generate for avatars whose `reply_mode` is "agent": instead of our LLM
and a talk per sentence, the user's words go to the agent's chat with the stream's ids, and D-ID
answers with the text while it speaks it (https://docs.d-id.com/reference/agents-streams-overview).
The turn is saved like any other: the assistant Message with its timings, before it is relayed.

Timings: `first_sentence_sent_at` is when the question went to the agent (from then on D-ID
writes and speaks the answer itself), `first_token_at` when the answer's text came back.
"""

from __future__ import annotations

import logging
import time

from django.db import IntegrityError
from django.utils import timezone

from agents.models import AgentChat
from conversations.models import Conversation, Message

from . import cancellation, events
from .providers.avatar.did import DIDProvider
from .providers.errors import ProviderError
from .replies import (
    ReplyResult,
    announce_reply,
    conversation_stream,
    finish_vendor_reply,
    new_reply,
)

log = logging.getLogger(__name__)

# D-ID answers in this mode when the account cannot pay for video: text only, nothing spoken.
TEXT_ONLY = "TextOnly"


async def chat_id_for(conversation: Conversation, agent_id: str, provider: DIDProvider) -> str:
    """The conversation's chat with the agent: created once, then reused (also across stream
    reconnects); a new one if the avatar now shows another agent."""
    existing = await AgentChat.objects.filter(conversation=conversation).afirst()
    if existing is not None and existing.did_agent_id == agent_id:
        return existing.chat_id
    chat_id = await provider.create_chat(agent_id)
    if existing is not None:
        existing.did_agent_id, existing.chat_id = agent_id, chat_id
        await existing.asave(update_fields=["did_agent_id", "chat_id"])
        return chat_id
    try:
        await AgentChat.objects.acreate(conversation=conversation, did_agent_id=agent_id,
                                        chat_id=chat_id)
    except IntegrityError:  # a concurrent reply made one first: use theirs
        return (await AgentChat.objects.aget(conversation=conversation)).chat_id
    return chat_id


async def generate_through_agent(
    conversation_id: str, question_id: int, *, avatar_provider: DIDProvider
) -> ReplyResult:
    """Ask the avatar's D-ID agent to answer `question_id` on the conversation's stream."""
    conversation = await Conversation.objects.select_related("avatar").aget(pk=conversation_id)
    question = await Message.objects.aget(pk=question_id, conversation=conversation)
    reply = await new_reply(conversation, question)
    group = await announce_reply(conversation_id, reply, question)

    stream = conversation_stream(conversation)
    agent_id = conversation.avatar.agent_id
    spoken, interrupted, error = 0, False, ""
    started = time.perf_counter()
    try:
        if not agent_id:
            raise ProviderError(
                "This avatar's D-ID agent is not ready yet (it has not been synced).",
                service=avatar_provider.service, provider=avatar_provider.name,
                kind="not_configured",
            )
        if await cancellation.is_cancelled(conversation_id, reply_to=question.pk):
            interrupted = True
        else:
            chat_id = await chat_id_for(conversation, agent_id, avatar_provider)
            reply.first_sentence_sent_at = timezone.now()
            await reply.asave(update_fields=["first_sentence_sent_at"])
            answer = await avatar_provider.chat(agent_id, chat_id, question.text, stream)
            reply.text = str(answer.get("result") or "").strip()
            reply.first_token_at = timezone.now()
            await reply.asave(update_fields=["text", "first_token_at"])  # saved, then relayed
            if reply.text:
                await events.publish(group, "reply.delta", message_id=reply.pk, text=reply.text)
            if answer.get("chatMode") == TEXT_ONLY:
                log.warning("agent %s answered as text only (no credits for video)", agent_id)
                await events.publish(
                    group, "error", code="avatar_quota",
                    message="The avatar service account has run out of credits: the answer is "
                            "shown as text only.",
                )
            elif stream is not None and reply.text:
                spoken = 1  # D-ID speaks the whole answer as one video
    except ProviderError as exc:
        error = exc.code
        log.warning("agent reply %s for conversation %s failed: %s", reply.pk, conversation_id,
                    exc.code)
        await events.publish(group, "error", code=exc.code, message=exc.message)
    log.info("agent reply %s: %d chars in %.2fs", reply.pk, len(reply.text),
             time.perf_counter() - started)
    return await finish_vendor_reply(reply, question, group, interrupted=interrupted,
                                     spoken=spoken, error=error, conversation_id=conversation_id)
