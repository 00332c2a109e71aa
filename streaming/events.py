"""Fan-out to a conversation's WebSocket(s) through the channel layer (Redis), from any process."""

from __future__ import annotations

from typing import Any

from channels.layers import get_channel_layer


def group_name(conversation_id) -> str:
    return f"conversation.{conversation_id}"


async def publish(group: str, kind: str, **data: Any) -> None:
    """Send a protocol message to every socket of the conversation; the consumer relays it as is."""
    await get_channel_layer().group_send(group, {"type": "relay", "message": {"type": kind, **data}})
