"""Celery tasks that copy the admin's agents, knowledge bases and documents to D-ID.

The admin saves the row and queues a task (never calls D-ID in the request). Tasks take ids,
retry with backoff while D-ID is unreachable, and record any other failure on the row for the
admin to show. Deletes take D-ID's ids, because the row is already gone.
"""

from __future__ import annotations

import logging

from asgiref.sync import sync_to_async
from celery import shared_task

from streaming import worker_loop
from streaming.providers.avatar.did_agents import DIDAgentsClient
from streaming.providers.errors import ProviderError, ProviderUnavailable
from streaming.providers.registry import did_agents_client

from .models import Agent, KnowledgeBase, KnowledgeDocument

log = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (ProviderUnavailable,),
    "retry_backoff": 2,
    "retry_backoff_max": 120,
    "max_retries": 6,
    "time_limit": 120,
    "soft_time_limit": 100,
}
# D-ID processes documents in the background; we look again with growing pauses, for about
# 25 minutes in all, then report it as stuck. (D-ID suggests webhooks; polling needs no
# public callback URL, which `make run` does not have.)
DOCUMENT_CHECKS = 12
DOCUMENT_FIRST_CHECK_SECONDS = 5


def _with_client(work):
    """Run `work(client)` (a coroutine function) on the worker's loop with a fresh client."""

    async def run():
        async with did_agents_client() as client:
            return await work(client)

    return worker_loop.run(run())


def _give_up_or_retry(task, row, exc: ProviderUnavailable, what: str) -> None:
    """Let Celery retry while retries are left; after the last one, record the failure on the
    row (the admin would otherwise show "Waiting to sync" for ever)."""
    if task.request.retries >= task.max_retries:
        _fail(row, exc, what)
        return
    raise exc


FAILED = object()  # what _sync_call returns once a failure is recorded on the row


def _sync_call(task, row, what: str, work):
    """`_with_client(work)`'s result, or FAILED once the failure is recorded on `row`: an
    unreachable D-ID is retried by Celery first, a refusal fails the row at once."""
    try:
        return _with_client(work)
    except ProviderUnavailable as exc:
        _give_up_or_retry(task, row, exc, what)
    except ProviderError as exc:
        _fail(row, exc, what)
    return FAILED


def _fail(row, exc: ProviderError, what: str) -> None:
    message = f"{exc.message} {exc.vendor_message}".strip()
    log.warning("D-ID sync of %s %s failed: %s (%s)", what, row.pk, exc.code, exc.vendor_message)
    row.mark_failed(message)


async def _ensure_knowledge(client: DIDAgentsClient, knowledge: KnowledgeBase) -> str:
    """The knowledge base's D-ID id, creating it at D-ID the first time."""
    if knowledge.did_knowledge_id:
        return knowledge.did_knowledge_id
    created = await client.create_knowledge(knowledge.name, knowledge.description)
    claimed = await _claim(knowledge, "did_knowledge_id", created)
    if not claimed:  # another run created one first: keep theirs, drop ours
        await client.delete_knowledge(created)
        await knowledge.arefresh_from_db(fields=["did_knowledge_id"])
    return knowledge.did_knowledge_id


async def _claim(row, field: str, vendor_id: str) -> bool:
    return await sync_to_async(row.claim_vendor_id)(field, vendor_id)


@shared_task(name="agents.tasks.sync_knowledge_base", bind=True, **RETRY)
def sync_knowledge_base(self, knowledge_id: int) -> bool:
    """Create the knowledge base at D-ID if it is new, else copy its name and description there
    (a rename keeps its id, so agents and documents keep pointing at it)."""
    knowledge = KnowledgeBase.objects.filter(pk=knowledge_id).first()
    if knowledge is None:
        return False

    async def push(client: DIDAgentsClient) -> None:
        if knowledge.did_knowledge_id:
            await client.update_knowledge(knowledge.did_knowledge_id, knowledge.name,
                                          knowledge.description)
        else:
            await _ensure_knowledge(client, knowledge)

    if _sync_call(self, knowledge, "knowledge base", push) is FAILED:
        return False
    knowledge.mark_synced()
    return True


@shared_task(name="agents.tasks.sync_document", bind=True, **RETRY)
def sync_document(self, document_id: int) -> bool:
    """Send a new or edited document to D-ID (an edit replaces the old copy: D-ID has no update
    for documents), then poll its processing status."""
    document = KnowledgeDocument.objects.select_related("knowledge_base").filter(
        pk=document_id
    ).first()
    if document is None:
        return False

    async def upload(client: DIDAgentsClient) -> dict:
        knowledge_id = await _ensure_knowledge(client, document.knowledge_base)
        if document.did_document_id:
            await client.delete_document(knowledge_id, document.did_document_id)
        return await client.create_document(
            knowledge_id,
            title=document.title,
            document_type=document.document_type(),
            source_url=document.source_url(),
        )

    created = _sync_call(self, document, "document", upload)
    if created is FAILED:
        return False
    KnowledgeDocument.objects.filter(pk=document.pk).update(did_document_id=str(created["id"]))
    document.knowledge_base.mark_synced()
    status = document.record_vendor_status(str(created.get("status") or "processing"))
    if status == KnowledgeDocument.Status.PROCESSING:
        check_document.apply_async((document.pk, 1), countdown=DOCUMENT_FIRST_CHECK_SECONDS)
    return True


@shared_task(name="agents.tasks.check_document", bind=True, **RETRY)
def check_document(self, document_id: int, attempt: int = 1) -> str:
    """Ask D-ID how the document's processing is going; look again later while it is busy."""
    document = KnowledgeDocument.objects.select_related("knowledge_base").filter(
        pk=document_id
    ).first()
    if document is None or not document.did_document_id:
        return "gone"
    knowledge_id = document.knowledge_base.did_knowledge_id
    data = _sync_call(self, document, "document",
                      lambda client: client.get_document(knowledge_id, document.did_document_id))
    if data is FAILED:
        return KnowledgeDocument.Status.FAILED
    error = str(data.get("error") or data.get("description") or "")
    status = document.record_vendor_status(str(data.get("status") or ""), error)
    if status == KnowledgeDocument.Status.PROCESSING:
        if attempt >= DOCUMENT_CHECKS:
            document.mark_failed("D-ID was still processing the document after many checks; "
                                 "save it again to retry.")
            return KnowledgeDocument.Status.FAILED
        check_document.apply_async(
            (document.pk, attempt + 1), countdown=DOCUMENT_FIRST_CHECK_SECONDS * 2 ** min(attempt, 6)
        )
    return status


@shared_task(name="agents.tasks.sync_agent", bind=True, **RETRY)
def sync_agent(self, agent_id: int) -> bool:
    """Create or update the agent at D-ID (its knowledge base first), then point the avatars
    that show it at D-ID's agent id."""
    agent = Agent.objects.select_related("voice", "knowledge_base").filter(pk=agent_id).first()
    if agent is None:
        return False

    async def push(client: DIDAgentsClient) -> None:
        if agent.knowledge_base is not None:
            await _ensure_knowledge(client, agent.knowledge_base)
        spec = agent.spec()
        if agent.did_agent_id:
            await client.update_agent(agent.did_agent_id, spec)
            return
        created = await client.create_agent(spec)
        if not await _claim(agent, "did_agent_id", created):
            await client.delete_agent(created)  # another run created it first
            await agent.arefresh_from_db(fields=["did_agent_id"])

    if _sync_call(self, agent, "agent", push) is FAILED:
        return False
    agent.mark_synced()
    agent.point_avatars_at_did()
    return True


@shared_task(name="agents.tasks.delete_did_agent", **RETRY)
def delete_did_agent(did_agent_id: str) -> None:
    _with_client(lambda client: client.delete_agent(did_agent_id))


@shared_task(name="agents.tasks.delete_did_knowledge", **RETRY)
def delete_did_knowledge(did_knowledge_id: str) -> None:
    _with_client(lambda client: client.delete_knowledge(did_knowledge_id))


@shared_task(name="agents.tasks.delete_did_document", **RETRY)
def delete_did_document(did_knowledge_id: str, did_document_id: str) -> None:
    _with_client(lambda client: client.delete_document(did_knowledge_id, did_document_id))
