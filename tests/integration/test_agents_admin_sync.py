"""Agents and knowledge managed from the admin: saved in the request, copied to D-ID by Celery
tasks (run here in-process against a fake D-ID at the HTTP boundary), outcome shown in the admin."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field

import httpx
import pytest
from asgiref.sync import sync_to_async
from celery.exceptions import Retry
from django.core.files.uploadedfile import SimpleUploadedFile

from agents import tasks
from agents.models import Agent, KnowledgeBase, KnowledgeDocument, SyncStatus
from avatars.models import Avatar, Voice
from streaming.providers.errors import ProviderUnavailable
from streaming.providers.registry import use_transport

pytestmark = pytest.mark.django_db(transaction=True)


@dataclass
class FakeAgentsAPI:
    """D-ID's knowledge and agents endpoints (https://docs.d-id.com/reference/knowledge-overview,
    https://docs.d-id.com/reference/agents-overview), recording each call."""

    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    document_statuses: list[str] = field(default_factory=lambda: ["done"])
    reject_documents: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def calls(self, method: str, path_start: str = "/") -> list[tuple[str, dict]]:
        with self.lock:
            return [(p, b) for m, p, b in self.requests if m == method and p.startswith(path_start)]

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    async def handler(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        path, method = request.url.path, request.method
        with self.lock:
            self.requests.append((method, path, body))
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/knowledge":
            return httpx.Response(200, json={"id": self._id("knl"), "status": ""})
        if method == "POST" and len(parts) == 3 and parts[2] == "documents":
            if self.reject_documents:
                return httpx.Response(400, json={"kind": "ValidationError",
                                                 "description": self.reject_documents})
            return httpx.Response(200, json={"id": f"{parts[1]}#{self._id('doc')}",
                                             "status": "processing"})
        if method == "GET" and len(parts) == 4 and parts[2] == "documents":
            status = self.document_statuses.pop(0) if len(self.document_statuses) > 1 \
                else self.document_statuses[0]
            return httpx.Response(200, json={"id": f"{parts[1]}#{parts[3]}", "status": status})
        if method == "POST" and path == "/agents":
            return httpx.Response(200, json={"id": self._id("agt"), "status": "created"})
        if method in ("PATCH", "DELETE"):
            return httpx.Response(200, json={})
        return httpx.Response(404, json={"kind": "NotFoundError", "description": path})


@pytest.fixture
def did_api(settings):
    settings.DID_API_URL = "https://api.d-id.test"
    settings.DID_API_KEY = "did-test-key"
    settings.PROVIDER_TIMEOUT = 2.0
    settings.PUBLIC_BASE_URL = "https://persona.example"
    fake = FakeAgentsAPI()
    with use_transport(httpx.MockTransport(fake.handler)):
        yield fake


@pytest.fixture
def queued(monkeypatch):
    """Tasks queued with .delay/.apply_async, run only when the test says so."""
    seen: list[tuple[str, tuple]] = []
    for name in ("sync_agent", "sync_knowledge_base", "sync_document", "check_document",
                 "delete_did_agent", "delete_did_knowledge", "delete_did_document"):
        task = getattr(tasks, name)
        monkeypatch.setattr(task, "delay", lambda *a, _n=name: seen.append((_n, a)))
        monkeypatch.setattr(task, "apply_async",
                            lambda args=(), _n=name, **kw: seen.append((_n, tuple(args))))
    return seen


def run_queued(queued) -> None:
    while queued:
        name, args = queued.pop(0)
        getattr(tasks, name)(*args)


@pytest.fixture
def admin_client(client, staff):
    client.force_login(staff)
    return client


PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64


def test_an_agent_saved_in_the_admin_is_created_at_d_id_with_its_knowledge(
    admin_client, did_api, queued
):
    voice = Voice.objects.create(name="Jenny", provider="microsoft", voice_id="en-US-JennyNeural")
    knowledge = KnowledgeBase.objects.create(name="Facts")
    response = admin_client.post("/admin/agents/agent/add/", {
        "name": "Nova", "description": "", "presenter_type": "talk",
        "source_url": "https://example.com/nova.jpg", "presenter_id": "", "voice": voice.pk,
        "instructions": "Answer from the documents.", "llm_model": "gpt-4o-mini",
        "greeting": "Hello, I am Nova.", "starter_messages": '["What is the secret?"]',
        "knowledge_base": knowledge.pk,
    })
    assert response.status_code == 302, response.content[:2000]
    agent = Agent.objects.get(name="Nova")
    assert did_api.requests == []  # nothing reaches D-ID inside the request
    assert [name for name, _ in queued] == ["sync_agent"]

    run_queued(queued)
    agent.refresh_from_db()
    knowledge.refresh_from_db()
    assert agent.sync_status == SyncStatus.SYNCED and agent.did_agent_id == "agt_2"
    assert knowledge.did_knowledge_id == "knl_1"
    [(_, body)] = did_api.calls("POST", "/agents")
    assert body["presenter"]["voice"] == {"type": "microsoft", "voice_id": "en-US-JennyNeural"}
    assert body["llm"]["instructions"] == "Answer from the documents."
    assert body["knowledge"]["id"] == "knl_1"
    assert body["greetings"] == ["Hello, I am Nova."]
    assert body["starter_message"] == ["What is the secret?"]


def test_an_edit_patches_the_agent_and_a_delete_removes_it_at_d_id(admin_client, did_api, queued):
    agent = Agent.objects.create(name="Nova", source_url="https://example.com/n.jpg",
                                 instructions="Be brief.", did_agent_id="agt_9")
    data = {"name": "Nova 2", "description": "", "presenter_type": "talk",
            "source_url": "https://example.com/n.jpg", "presenter_id": "", "voice": "",
            "instructions": "Be briefer.", "llm_model": "gpt-4o-mini", "greeting": "",
            "starter_messages": "[]", "knowledge_base": ""}
    assert admin_client.post(f"/admin/agents/agent/{agent.pk}/change/", data).status_code == 302
    run_queued(queued)
    [(path, body)] = did_api.calls("PATCH")
    assert path == "/agents/agt_9" and body["preview_name"] == "Nova 2"
    assert did_api.calls("POST", "/agents") == []

    face = Avatar.objects.create(name="Nova", slug="nova", provider="did_agents",
                                 managed_agent=agent, agent_id="agt_9")
    response = admin_client.post(f"/admin/agents/agent/{agent.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    run_queued(queued)
    assert [p for p, _ in did_api.calls("DELETE")] == ["/agents/agt_9"]
    face.refresh_from_db()
    assert face.managed_agent is None and face.agent_id == ""


def test_an_uploaded_document_is_sent_by_its_public_url_and_its_processing_is_followed(
    admin_client, did_api, queued
):
    did_api.document_statuses = ["processing", "done"]
    knowledge = KnowledgeBase.objects.create(name="Facts")
    upload = SimpleUploadedFile("facts.md", b"# Facts\nThe moon base is called Selene-7.\n")
    response = admin_client.post(f"/admin/agents/knowledgebase/{knowledge.pk}/change/", {
        "name": "Facts", "description": "",
        "documents-TOTAL_FORMS": "1", "documents-INITIAL_FORMS": "0",
        "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "1000",
        "documents-0-title": "Moon facts", "documents-0-file": upload, "documents-0-url": "",
    })
    assert response.status_code == 302, response.content[:3000]
    document = KnowledgeDocument.objects.get()
    assert document.status == KnowledgeDocument.Status.PENDING
    run_queued(queued)
    document.refresh_from_db()
    assert document.status == KnowledgeDocument.Status.DONE
    [(path, body)] = did_api.calls("POST", "/knowledge/knl_1/documents")
    assert body["documentType"] == "markdown" and body["title"] == "Moon facts"
    assert body["source_url"].startswith("https://persona.example/media/knowledge/facts")
    assert len(did_api.calls("GET", "/knowledge/knl_1/documents/")) == 2

    page = admin_client.get(f"/admin/agents/knowledgebase/{knowledge.pk}/change/")
    assert b"Ready" in page.content


def test_renaming_a_knowledge_base_patches_it_at_d_id_and_keeps_its_id(admin_client, did_api,
                                                                        queued):
    knowledge = KnowledgeBase.objects.create(name="Facts", did_knowledge_id="knl_5",
                                             sync_status=SyncStatus.SYNCED)
    response = admin_client.post(f"/admin/agents/knowledgebase/{knowledge.pk}/change/", {
        "name": "Lunar facts", "description": "What the moon base knows",
        "documents-TOTAL_FORMS": "0", "documents-INITIAL_FORMS": "0",
        "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "1000",
    })
    assert response.status_code == 302, response.content[:3000]
    assert did_api.requests == []  # nothing reaches D-ID inside the request
    assert [name for name, _ in queued] == ["sync_knowledge_base"]
    run_queued(queued)
    assert did_api.calls("PATCH") == [
        ("/knowledge/knl_5", {"name": "Lunar facts", "description": "What the moon base knows"})]
    assert did_api.calls("POST") == [] and did_api.calls("DELETE") == []
    knowledge.refresh_from_db()
    assert knowledge.did_knowledge_id == "knl_5" and knowledge.sync_status == SyncStatus.SYNCED

    # Saved again without a change to its own fields: D-ID is not asked anything.
    admin_client.post(f"/admin/agents/knowledgebase/{knowledge.pk}/change/", {
        "name": "Lunar facts", "description": "What the moon base knows",
        "documents-TOTAL_FORMS": "0", "documents-INITIAL_FORMS": "0",
        "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "1000",
    })
    assert queued == []


def test_an_edited_document_replaces_its_copy_at_d_id_which_has_no_document_update(
    admin_client, did_api, queued
):
    knowledge = KnowledgeBase.objects.create(name="Facts", did_knowledge_id="knl_5")
    document = KnowledgeDocument.objects.create(knowledge_base=knowledge, title="Old",
                                                url="https://example.com/a.txt",
                                                did_document_id="knl_5#doc_7")
    response = admin_client.post(f"/admin/agents/knowledgebase/{knowledge.pk}/change/", {
        "name": "Facts", "description": "",
        "documents-TOTAL_FORMS": "1", "documents-INITIAL_FORMS": "1",
        "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "1000",
        "documents-0-id": document.pk, "documents-0-knowledge_base": knowledge.pk,
        "documents-0-title": "New title", "documents-0-url": "https://example.com/b.txt",
    })
    assert response.status_code == 302, response.content[:3000]
    assert [name for name, _ in queued] == ["sync_document"]  # the knowledge base is unchanged
    run_queued(queued)
    assert [p for p, _ in did_api.calls("DELETE")] == ["/knowledge/knl_5/documents/doc_7"]
    [(path, body)] = did_api.calls("POST")
    assert path == "/knowledge/knl_5/documents"
    assert (body["title"], body["source_url"]) == ("New title", "https://example.com/b.txt")
    document.refresh_from_db()
    assert document.did_document_id not in ("", "knl_5#doc_7")
    assert document.status == KnowledgeDocument.Status.DONE


def test_d_id_s_reason_for_refusing_a_document_is_shown_in_the_admin(admin_client, did_api, queued):
    did_api.reject_documents = "source_url could not be downloaded"
    knowledge = KnowledgeBase.objects.create(name="Facts")
    document = KnowledgeDocument.objects.create(knowledge_base=knowledge, title="Web",
                                                url="https://example.com/page")
    document.request_sync()
    run_queued(queued)
    document.refresh_from_db()
    assert document.status == KnowledgeDocument.Status.FAILED
    assert "source_url could not be downloaded" in document.vendor_error
    page = admin_client.get(f"/admin/agents/knowledgebase/{knowledge.pk}/change/")
    assert b"source_url could not be downloaded" in page.content


def test_a_document_d_id_rejects_while_processing_is_marked_failed(did_api, queued):
    did_api.document_statuses = ["rejected"]
    knowledge = KnowledgeBase.objects.create(name="Facts")
    document = KnowledgeDocument.objects.create(knowledge_base=knowledge, title="Web",
                                                url="https://example.com/doc.pdf")
    document.request_sync()
    run_queued(queued)
    document.refresh_from_db()
    assert document.status == KnowledgeDocument.Status.FAILED
    assert document.vendor_status == "rejected" and "rejected" in document.vendor_error
    [(_, body)] = did_api.calls("POST", "/knowledge/knl_1/documents")
    assert body["documentType"] == "pdf"


def test_a_file_that_is_not_what_its_name_says_is_refused_by_the_admin(admin_client, did_api,
                                                                       queued):
    knowledge = KnowledgeBase.objects.create(name="Facts")
    fake_pdf = SimpleUploadedFile("facts.pdf", b"this is not a pdf at all")
    response = admin_client.post(f"/admin/agents/knowledgebase/{knowledge.pk}/change/", {
        "name": "Facts", "description": "",
        "documents-TOTAL_FORMS": "1", "documents-INITIAL_FORMS": "0",
        "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "1000",
        "documents-0-title": "Bad", "documents-0-file": fake_pdf, "documents-0-url": "",
    })
    assert response.status_code == 200
    assert b"not a PDF" in response.content
    assert not KnowledgeDocument.objects.exists() and queued == []


def test_deleting_a_document_in_the_admin_deletes_it_at_d_id(admin_client, did_api, queued):
    knowledge = KnowledgeBase.objects.create(name="Facts", did_knowledge_id="knl_5")
    document = KnowledgeDocument.objects.create(knowledge_base=knowledge, title="Old",
                                                url="https://example.com/a.txt",
                                                did_document_id="knl_5#doc_7")
    response = admin_client.post(f"/admin/agents/knowledgebase/{knowledge.pk}/change/", {
        "name": "Facts", "description": "",
        "documents-TOTAL_FORMS": "1", "documents-INITIAL_FORMS": "1",
        "documents-MIN_NUM_FORMS": "0", "documents-MAX_NUM_FORMS": "1000",
        "documents-0-id": document.pk, "documents-0-knowledge_base": knowledge.pk,
        "documents-0-title": "Old", "documents-0-url": "https://example.com/a.txt",
        "documents-0-DELETE": "on",
    })
    assert response.status_code == 302, response.content[:3000]
    run_queued(queued)
    assert [p for p, _ in did_api.calls("DELETE")] == ["/knowledge/knl_5/documents/doc_7"]


def test_a_sync_failure_is_recorded_with_d_id_s_words(did_api, queued):
    agent = Agent.objects.create(name="Nova", presenter_type="clip", presenter_id="amy",
                                 instructions="x")

    async def refuse(request):
        return httpx.Response(402, json={"kind": "InsufficientCreditsError",
                                         "description": "not enough credits"})

    with use_transport(httpx.MockTransport(refuse)):
        assert tasks.sync_agent(agent.pk) is False
    agent.refresh_from_db()
    assert agent.sync_status == SyncStatus.FAILED
    assert "not enough credits" in agent.sync_error


def test_a_synced_agent_gives_its_d_id_id_to_the_avatars_that_show_it(did_api, queued):
    agent = Agent.objects.create(name="Nova", source_url="https://example.com/n.jpg",
                                 instructions="x")
    avatar = Avatar.objects.create(name="Nova", slug="nova", provider="did_agents",
                                   managed_agent=agent)
    assert tasks.sync_agent(agent.pk) is True
    avatar.refresh_from_db()
    agent.refresh_from_db()
    assert avatar.agent_id == agent.did_agent_id == "agt_1"


def test_when_two_runs_race_to_create_the_agent_d_id_keeps_only_one(did_api, queued):
    agent = Agent.objects.create(name="Nova", source_url="https://example.com/n.jpg",
                                 instructions="x")

    async def create_while_another_run_claims(request):
        response = await did_api.handler(request)
        if request.method == "POST" and request.url.path == "/agents":
            # The other run records its agent while ours is being created.
            await sync_to_async(Agent.objects.filter(pk=agent.pk).update)(did_agent_id="agt_other")
        return response

    with use_transport(httpx.MockTransport(create_while_another_run_claims)):
        assert tasks.sync_agent(agent.pk) is True
    agent.refresh_from_db()
    assert agent.did_agent_id == "agt_other"
    created = did_api.calls("POST", "/agents")
    assert len(created) == 1
    assert [p for p, _ in did_api.calls("DELETE")] == ["/agents/agt_1"]  # ours, the duplicate


def test_d_id_down_after_the_last_retry_is_recorded_not_left_pending(did_api, queued):
    agent = Agent.objects.create(name="Nova", source_url="https://example.com/n.jpg",
                                 instructions="x")

    async def down(request):
        return httpx.Response(503, json={"kind": "InternalServerError", "description": "down"})

    with use_transport(httpx.MockTransport(down)):
        with pytest.raises((ProviderUnavailable, Retry)):  # retries are left: Celery retries
            tasks.sync_agent(agent.pk)
        agent.refresh_from_db()
        assert agent.sync_status == SyncStatus.PENDING
        tasks.sync_agent.push_request(retries=tasks.sync_agent.max_retries)
        try:
            assert tasks.sync_agent(agent.pk) is False
        finally:
            tasks.sync_agent.pop_request()
    agent.refresh_from_db()
    assert agent.sync_status == SyncStatus.FAILED and "not reachable" in agent.sync_error


@pytest.mark.parametrize("path", [
    "/admin/agents/agent/", "/admin/agents/agent/add/",
    "/admin/agents/knowledgebase/", "/admin/agents/knowledgebase/add/",
    "/admin/avatars/avatar/add/",
])
def test_the_agents_admin_pages_render_for_staff(admin_client, path):
    Agent.objects.create(name="Nova", source_url="https://example.com/n.jpg", instructions="x",
                         sync_status=SyncStatus.FAILED, sync_error="D-ID said no")
    page = admin_client.get(path)
    assert page.status_code == 200
    if path == "/admin/agents/agent/":
        assert b"Sync failed" in page.content


def test_non_staff_cannot_reach_the_agents_admin(client, alice):
    client.force_login(alice)
    assert client.get("/admin/agents/agent/").status_code == 302  # to the admin login
