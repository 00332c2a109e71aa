"""D-ID's Agents and Knowledge APIs: the agents, knowledge bases and documents staff manage.

What the admin's Celery sync calls (the live stream and its chat are in did.py):

    POST   /knowledge                               {"name", "description"} -> {"id": "knl_…"}
    GET    /knowledge/{knowledgeId}                 -> {"id", "status", …}
    PATCH  /knowledge/{knowledgeId}                 {"name", "description"}: a rename
    DELETE /knowledge/{knowledgeId}
    POST   /knowledge/{knowledgeId}/documents       {"documentType", "source_url", "title"}
                                                    -> {"id": "knl_…#doc_…", "status", …}
    GET    /knowledge/{knowledgeId}/documents/{documentId}   -> {"status": "done" | …}
    DELETE /knowledge/{knowledgeId}/documents/{documentId}
    POST   /agents                                  {"presenter", "llm", "preview_name", …}
    PATCH  /agents/{agentId}                        the same body, for edits
    DELETE /agents/{agentId}

https://docs.d-id.com/reference/knowledge-overview (knowledge, documents, their statuses),
https://docs.d-id.com/reference/agents-overview (create an agent, bind its knowledge, chats).
A knowledge base is renamed in place (PATCH, the "Update a knowledge" reference with the body of
"Create a knowledge"); documents have no update call, so an edited document is deleted and
created again.
D-ID processes a document in the background: its status goes from "created"/"processing" to
"done", or to "rejected"/"error"; the documents' id comes back as "knl_…#doc_…" and the part
after "#" is the document id in the paths.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

from ...error_codes import AVATAR, Service
from ..errors import ProviderRejected, bad_response
from ..http import DEFAULT_RETRY, JsonApi, RetryPolicy, make_client
from .did import did_headers

log = logging.getLogger(__name__)

# Document statuses as D-ID reports them; anything else means "still being processed".
DOCUMENT_DONE = "done"
DOCUMENT_FAILED = ("rejected", "error")

# The `documentType` values we send: the files staff may upload, and web pages given by URL.
DOCUMENT_TYPES = ("pdf", "text", "markdown", "html")


@dataclass(frozen=True)
class AgentSpec:
    """Everything D-ID needs to create (or update) an agent; plain values, no Django."""

    name: str
    presenter_type: str  # "talk" (a photo) or "clip" (a premium presenter)
    instructions: str
    source_url: str = ""
    presenter_id: str = ""
    voice: dict[str, Any] | None = None  # {"type": "microsoft", "voice_id": "en-US-JennyNeural"}
    description: str = ""
    llm_provider: str = "openai"
    llm_model: str = "gpt-4o-mini"
    greeting: str = ""
    starter_messages: tuple[str, ...] = ()
    knowledge_id: str = ""


def agent_body(spec: AgentSpec) -> dict[str, Any]:
    """The body of POST /agents and PATCH /agents/{id}, in the shape of the agents overview."""
    presenter: dict[str, Any] = {"type": spec.presenter_type}
    if spec.presenter_type == "clip":
        presenter["presenter_id"] = spec.presenter_id
    else:
        presenter["source_url"] = spec.source_url
        presenter["thumbnail"] = spec.source_url
    if spec.voice:
        presenter["voice"] = dict(spec.voice)
    body: dict[str, Any] = {
        "presenter": presenter,
        "llm": {
            "type": spec.llm_provider,
            "provider": spec.llm_provider,
            "model": spec.llm_model,
            "instructions": spec.instructions,
        },
        "preview_name": spec.name,
    }
    if spec.description:
        body["preview_description"] = spec.description
    if spec.knowledge_id:
        # As D-ID's agents demo binds a knowledge base (agents overview, "Create an Agent").
        body["knowledge"] = {
            "provider": "pinecone",
            "embedder": {"provider": "pinecone", "model": "ada02"},
            "id": spec.knowledge_id,
        }
    if spec.greeting:
        body["greetings"] = [spec.greeting]
    if spec.starter_messages:
        body["starter_message"] = list(spec.starter_messages)
    return body


def document_path_id(document_id: str) -> str:
    """The document id for paths: D-ID answers "knl_…#doc_…" and the paths take the part after '#'."""
    return document_id.split("#", 1)[1] if "#" in document_id else document_id


class DIDAgentsClient(JsonApi):
    """Agents, knowledge bases and documents on D-ID (or the local engine that imitates it).

    Use as `async with` so the HTTP client is closed in the loop that used it.
    """

    name = "did"
    service = Service(AVATAR, "avatar service (D-ID)")

    def __init__(
        self,
        base_url: str,
        api_key: str,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: float = 15.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        owns_client: bool | None = None,
    ) -> None:
        self.client = client or make_client(timeout=timeout)
        # An injected client belongs to its owner, unless the caller hands it over.
        self._owns_client = client is None if owns_client is None else owns_client
        self.base_url = base_url.rstrip("/")
        self.retry = retry
        self._api_key = api_key
        self._headers = did_headers(api_key)

    async def __aenter__(self) -> DIDAgentsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._owns_client:
            await self.client.aclose()

    async def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return (await self._send_json(method, self.base_url + path, body))[1]

    async def _delete(self, path: str, what: str) -> None:
        """DELETE; something D-ID has already forgotten counts as deleted."""
        try:
            await self._call("DELETE", path)
        except ProviderRejected as exc:
            if exc.status not in (404, 410):
                raise
            log.info("D-ID %s was already gone (%s)", what, exc.status)

    def _created_id(self, data: dict[str, Any], what: str) -> str:
        if not data.get("id"):
            raise bad_response(f"did not return the new {what}", provider=self.name,
                               service=self.service)
        return str(data["id"])

    # -- knowledge ------------------------------------------------------------------------

    async def create_knowledge(self, name: str, description: str) -> str:
        data = await self._call(
            "POST", "/knowledge", {"name": name, "description": description or name}
        )
        return self._created_id(data, "knowledge base")

    async def update_knowledge(self, knowledge_id: str, name: str, description: str) -> None:
        """Rename a knowledge base (its id, documents and agents stay as they are)."""
        await self._call(
            "PATCH", f"/knowledge/{quote(knowledge_id, safe='')}",
            {"name": name, "description": description or name},
        )

    async def get_knowledge(self, knowledge_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/knowledge/{quote(knowledge_id, safe='')}")

    async def delete_knowledge(self, knowledge_id: str) -> None:
        await self._delete(f"/knowledge/{quote(knowledge_id, safe='')}", f"knowledge {knowledge_id}")

    # -- documents ------------------------------------------------------------------------

    def _document_path(self, knowledge_id: str, document_id: str = "") -> str:
        path = f"/knowledge/{quote(knowledge_id, safe='')}/documents"
        if document_id:
            path += "/" + quote(document_path_id(document_id), safe="")
        return path

    async def create_document(
        self, knowledge_id: str, *, title: str, document_type: str, source_url: str
    ) -> dict[str, Any]:
        """Add a document D-ID fetches from `source_url`; returns D-ID's answer (id, status)."""
        if document_type not in DOCUMENT_TYPES:
            raise ValueError(f"Unsupported document type {document_type!r}.")
        data = await self._call(
            "POST",
            self._document_path(knowledge_id),
            {"documentType": document_type, "source_url": source_url, "title": title},
        )
        self._created_id(data, "document")
        return data

    async def get_document(self, knowledge_id: str, document_id: str) -> dict[str, Any]:
        return await self._call("GET", self._document_path(knowledge_id, document_id))

    async def delete_document(self, knowledge_id: str, document_id: str) -> None:
        await self._delete(self._document_path(knowledge_id, document_id),
                           f"document {document_id}")

    # -- agents ---------------------------------------------------------------------------

    async def create_agent(self, spec: AgentSpec) -> str:
        data = await self._call("POST", "/agents", agent_body(spec))
        return self._created_id(data, "agent")

    async def update_agent(self, agent_id: str, spec: AgentSpec) -> None:
        await self._call("PATCH", f"/agents/{quote(agent_id, safe='')}", agent_body(spec))

    async def delete_agent(self, agent_id: str) -> None:
        await self._delete(f"/agents/{quote(agent_id, safe='')}", f"agent {agent_id}")
