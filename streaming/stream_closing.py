"""Closing a provider stream exactly once, and never forgetting one.

The close is claimed first (a compare-and-set on the conversation row, so the consumer, the
reaper and a redelivered task never close one stream twice), then the provider is called, then the
close is confirmed. A closer that dies between the claim and the confirmation leaves the claim
unconfirmed; the reaper finds such claims and hands them to the retried `close_stream` task.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from kombu.exceptions import OperationalError as BrokerError

from conversations.models import Conversation

from .providers.errors import ProviderError, ProviderUnavailable

log = logging.getLogger(__name__)


def enqueue_close(conversation_id, stream: dict | None = None) -> bool:
    """Queue the retried `close_stream` task. False when the broker is unreachable: the claim
    then stays unconfirmed and the reaper queues the close again later."""
    from .tasks import close_stream  # tasks imports this module

    try:
        close_stream.apply_async((str(conversation_id),), {"stream": stream}, retry=False)
    except (BrokerError, OSError) as exc:
        log.warning("conversation %s: could not queue the stream close (%s); the reaper will",
                    conversation_id, exc)
        return False
    return True


async def close_claimed(conversation: Conversation, provider, stream) -> None:
    """Close `stream`, whose close the caller has claimed, and confirm it. A provider that is
    unreachable gets the close retried with backoff from a worker instead of holding up the
    caller; a provider that no longer knows the stream counts as closed."""
    try:
        await provider.close(stream)
    except ProviderUnavailable as exc:
        log.warning("conversation %s: closing stream failed (%s); retrying in the background",
                    conversation.pk, exc.code)
        await sync_to_async(enqueue_close, thread_sensitive=False)(conversation.pk, stream.to_dict())
        return
    except ProviderError as exc:
        log.info("conversation %s: stream already gone at the provider: %s", conversation.pk, exc.code)
    await sync_to_async(conversation.confirm_stream_closed)(stream.id)
