"""Fan-out to a conversation's WebSocket(s) through the channel layer (Redis), from any process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from channels.layers import DEFAULT_CHANNEL_LAYER, channel_layers, get_channel_layer

_private_layer: ContextVar[Any] = ContextVar("private_channel_layer", default=None)


def group_name(conversation_id) -> str:
    return f"conversation.{conversation_id}"


@asynccontextmanager
async def private_layer() -> AsyncIterator[None]:
    """Publish through a channel layer of our own for the duration, closed at the end.

    Celery runs each task in a fresh event loop; the process-wide layer's Redis pools belong to
    whichever loop made them, and closing them would close everyone's."""
    layer = channel_layers.make_backend(DEFAULT_CHANNEL_LAYER)
    token = _private_layer.set(layer)
    try:
        yield
    finally:
        _private_layer.reset(token)
        await layer.close_pools()


async def publish(group: str, kind: str, **data: Any) -> None:
    """Send a protocol message to every socket of the conversation; the consumer relays it as is."""
    layer = _private_layer.get() or get_channel_layer()
    await layer.group_send(group, {"type": "relay", "message": {"type": kind, **data}})
