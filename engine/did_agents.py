"""D-ID's Agents and Knowledge APIs, served locally: agents, knowledge bases, documents.

Paths, bodies and answers follow https://docs.d-id.com/reference/agents-overview and
https://docs.d-id.com/reference/knowledge-overview:

    POST/GET /knowledge, GET/PATCH/DELETE /knowledge/{id}
    POST/GET /knowledge/{id}/documents, GET/DELETE /knowledge/{id}/documents/{doc}
    POST/GET /agents, GET/PATCH/DELETE /agents/{id}

A document is fetched from its `source_url` (through the engine's guarded reader), its text
extracted, chunked and indexed (knowledge.py) in the background: its status goes from
"processing" to "done", or to "error" with the reason, as D-ID's does. An agents chat
(did_chat.send_chat_message) then answers from the agent's instructions and the passages
retrieved for the question (`chat_prompt`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from .catalog import IDLE_VIDEO_PATH, base_url
from .did_errors import DidError, invalid
from .did_registry import STREAMS, did_endpoint, read_source
from .did_requests import read_json
from .knowledge import ExtractionError, KnowledgeStore, Passage, extract_text
from .presenters import DEFAULT_PRESENTER

log = logging.getLogger(__name__)

AGENTS = web.AppKey("did_agents", KnowledgeStore)
TASKS = web.AppKey("did_agents_tasks", set)
DOCUMENT_TYPES = ("pdf", "text", "markdown", "html")
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
PASSAGES_PER_ANSWER = 4


def _store(request: web.Request) -> KnowledgeStore:
    return request.app[AGENTS]


def _string(body: dict, name: str, *, required: bool = False, limit: int = 10_000) -> str:
    value = body.get(name, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string")
    if required and not value.strip():
        raise invalid(f"{name} is required")
    if len(value) > limit:
        raise invalid(f"{name} is longer than {limit} characters")
    return value


def _not_found(what: str) -> DidError:
    return DidError(404, "NotFoundError", f"{what} not found")


# -- knowledge ----------------------------------------------------------------------------------


@did_endpoint
async def create_knowledge(request: web.Request) -> web.Response:
    body = await read_json(request)
    name = _string(body, "name", required=True, limit=200)
    description = _string(body, "description", limit=1000)
    return web.json_response(
        await asyncio.to_thread(_store(request).create_knowledge, name, description)
    )


@did_endpoint
async def list_knowledge(request: web.Request) -> web.Response:
    return web.json_response(await asyncio.to_thread(_store(request).knowledge_bases))


@did_endpoint
async def get_knowledge(request: web.Request) -> web.Response:
    knowledge = await asyncio.to_thread(_store(request).knowledge, request.match_info["id"])
    if knowledge is None:
        raise _not_found(f"knowledge {request.match_info['id']}")
    return web.json_response(knowledge)


@did_endpoint
async def update_knowledge(request: web.Request) -> web.Response:
    """A rename: the body of a create (name, description); the id and documents stay."""
    body = await read_json(request)
    name = _string(body, "name", required=True, limit=200)
    description = _string(body, "description", limit=1000)
    knowledge = await asyncio.to_thread(_store(request).rename_knowledge,
                                        request.match_info["id"], name, description)
    if knowledge is None:
        raise _not_found(f"knowledge {request.match_info['id']}")
    return web.json_response(knowledge)


@did_endpoint
async def delete_knowledge(request: web.Request) -> web.Response:
    if not await asyncio.to_thread(_store(request).delete_knowledge, request.match_info["id"]):
        raise _not_found(f"knowledge {request.match_info['id']}")
    return web.json_response({"deleted": True})


# -- documents ----------------------------------------------------------------------------------


async def _knowledge_or_404(request: web.Request) -> str:
    knowledge_id = request.match_info["id"]
    if await asyncio.to_thread(_store(request).knowledge, knowledge_id) is None:
        raise _not_found(f"knowledge {knowledge_id}")
    return knowledge_id


@did_endpoint
async def create_document(request: web.Request) -> web.Response:
    knowledge_id = await _knowledge_or_404(request)
    body = await read_json(request)
    document_type = _string(body, "documentType", required=True, limit=20)
    if document_type not in DOCUMENT_TYPES:
        raise invalid(f"documentType must be one of {', '.join(DOCUMENT_TYPES)}")
    source_url = _string(body, "source_url", required=True, limit=2000)
    if not source_url.startswith(("http://", "https://")):
        raise invalid("source_url must be an http(s) URL")
    title = _string(body, "title", limit=200) or source_url.rsplit("/", 1)[-1]
    store = _store(request)
    document = await asyncio.to_thread(
        store.create_document, knowledge_id, title=title, document_type=document_type,
        source_url=source_url,
    )
    # Processed in the background, as D-ID does: the caller polls the document's status.
    task = asyncio.create_task(_process(request.app, knowledge_id, document))
    request.app[TASKS].add(task)
    task.add_done_callback(request.app[TASKS].discard)
    return web.json_response(document)


async def _process(app: web.Application, knowledge_id: str, document: dict) -> None:
    """Fetch (with the stream registry's guarded reader), extract, chunk and index one
    document; record why if any step fails."""
    store = app[AGENTS]
    try:
        data = await read_source(app[STREAMS], document["source_url"], what="source_url",
                                 max_bytes=MAX_DOCUMENT_BYTES)
        text = await asyncio.to_thread(extract_text, data, document["documentType"])
        chunks = await asyncio.to_thread(store.index_document, knowledge_id, document["id"], text)
    except DidError as exc:
        await asyncio.to_thread(store.fail_document, knowledge_id, document["id"],
                                exc.description)
        log.info("document %s could not be fetched: %s", document["id"], exc.description)
        return
    except ExtractionError as exc:
        await asyncio.to_thread(store.fail_document, knowledge_id, document["id"], str(exc))
        log.info("document %s could not be read: %s", document["id"], exc)
        return
    except Exception:
        log.exception("document %s failed", document["id"])
        await asyncio.to_thread(store.fail_document, knowledge_id, document["id"],
                                "the document could not be processed")
        return
    log.info("document %s indexed: %d passages", document["id"], chunks)


@did_endpoint
async def list_documents(request: web.Request) -> web.Response:
    knowledge_id = await _knowledge_or_404(request)
    return web.json_response(await asyncio.to_thread(_store(request).documents, knowledge_id))


@did_endpoint
async def get_document(request: web.Request) -> web.Response:
    knowledge_id, document_id = request.match_info["id"], request.match_info["document_id"]
    document = await asyncio.to_thread(_store(request).document, knowledge_id, document_id)
    if document is None:
        raise _not_found(f"document {document_id}")
    return web.json_response(document)


@did_endpoint
async def delete_document(request: web.Request) -> web.Response:
    knowledge_id, document_id = request.match_info["id"], request.match_info["document_id"]
    if not await asyncio.to_thread(_store(request).delete_document, knowledge_id, document_id):
        raise _not_found(f"document {document_id}")
    return web.json_response({"deleted": True})


# -- agents -------------------------------------------------------------------------------------


def _agent_body(body: dict, *, partial: bool) -> dict[str, Any]:
    """The agent fields we keep, checked; `partial` for PATCH (only what was sent)."""
    kept: dict[str, Any] = {}
    presenter = body.get("presenter")
    if presenter is not None or not partial:
        if not isinstance(presenter, dict) or presenter.get("type") not in ("talk", "clip",
                                                                          "expressive"):
            raise invalid('presenter must be an object with type "talk" or "clip"')
        kept["presenter"] = presenter
    llm = body.get("llm")
    if llm is not None:
        if not isinstance(llm, dict) or not isinstance(llm.get("instructions", ""), str):
            raise invalid("llm must be an object with instructions as a string")
        kept["llm"] = llm
    knowledge = body.get("knowledge")
    if knowledge is not None:
        if not isinstance(knowledge, dict) or not isinstance(knowledge.get("id"), str):
            raise invalid("knowledge must be an object with the knowledge base id")
        kept["knowledge"] = knowledge
    for name in ("greetings", "starter_message"):
        if name in body:
            value = body[name]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise invalid(f"{name} must be a list of strings")
            kept[name] = value
    for name in ("preview_name", "preview_description"):
        if name in body:
            kept[name] = _string(body, name, limit=1000)
    return kept


def with_idle_video(agent: dict, base: str) -> dict:
    """The agent as D-ID answers it: its presenter carries an `idle_video`, a loop of the face
    its streams show at rest. The engine draws an agent without a photo with its default
    presenter, whose loop it serves (catalog.py); a photo agent gets none (no loop is rendered
    from a photo yet), and an idle video the agent was given is kept."""
    presenter = agent.get("presenter")
    if not isinstance(presenter, dict) or presenter.get("idle_video"):
        return agent
    if presenter.get("type") == "talk" and presenter.get("source_url"):
        return agent
    idle = base + IDLE_VIDEO_PATH.format(presenter_id=DEFAULT_PRESENTER)
    return {**agent, "presenter": {**presenter, "idle_video": idle}}


def _as_answered(request: web.Request, agent: dict) -> dict:
    return with_idle_video(agent, base_url(request))


@did_endpoint
async def create_agent(request: web.Request) -> web.Response:
    body = _agent_body(await read_json(request), partial=False)
    return web.json_response(
        _as_answered(request, await asyncio.to_thread(_store(request).create_agent, body))
    )


@did_endpoint
async def list_agents(request: web.Request) -> web.Response:
    agents = await asyncio.to_thread(_store(request).agents)
    return web.json_response([_as_answered(request, agent) for agent in agents])


@did_endpoint
async def get_agent(request: web.Request) -> web.Response:
    agent = await asyncio.to_thread(_store(request).agent, request.match_info["agent_id"])
    if agent is None:
        raise _not_found(f"agent {request.match_info['agent_id']}")
    return web.json_response(_as_answered(request, agent))


@did_endpoint
async def update_agent(request: web.Request) -> web.Response:
    changes = _agent_body(await read_json(request), partial=True)
    agent = await asyncio.to_thread(_store(request).update_agent, request.match_info["agent_id"],
                                    changes)
    if agent is None:
        raise _not_found(f"agent {request.match_info['agent_id']}")
    return web.json_response(_as_answered(request, agent))


@did_endpoint
async def delete_agent(request: web.Request) -> web.Response:
    if not await asyncio.to_thread(_store(request).delete_agent, request.match_info["agent_id"]):
        raise _not_found(f"agent {request.match_info['agent_id']}")
    return web.json_response({"deleted": True})


# -- what an agents chat answers from -------------------------------------------------------------


def chat_prompt(
    store: KnowledgeStore | None, agent_id: str, question: str
) -> tuple[list[dict], list[Passage]]:
    """The system messages for an agent's answer and the passages they quote (blocking).

    An agent the engine does not know (one made elsewhere, or none) answers as before: no
    system message, no passages.
    """
    agent = store.agent(agent_id) if store is not None else None
    if agent is None:
        return [], []
    instructions = str((agent.get("llm") or {}).get("instructions") or "").strip()
    knowledge_id = str((agent.get("knowledge") or {}).get("id") or "")
    passages = store.search(knowledge_id, question, limit=PASSAGES_PER_ANSWER) \
        if knowledge_id and question else []
    lines = [instructions] if instructions else []
    lines.append("You are speaking out loud: answer in one to three short sentences.")
    if passages:
        # Best passage first, and the rule about names last, next to the question: the local
        # model is small, and copies what it is shown more faithfully than it recalls it.
        lines.append("Answer from these passages of your knowledge base, the most relevant "
                     "first; if they do not hold the answer, say you do not know.")
        lines.extend(f"[{p.title}] {p.text}" for p in passages)
        lines.append("Use the names, numbers and places exactly as the passages write them.")
    return [{"role": "system", "content": "\n".join(lines)}], passages


def agent_photo(store: KnowledgeStore | None, agent_id: str) -> str | None:
    """The photo URL of a photo agent the engine knows (blocking), to build its stream's face."""
    agent = store.agent(agent_id) if store is not None else None
    presenter = (agent or {}).get("presenter") or {}
    url = presenter.get("source_url")
    return url if presenter.get("type") == "talk" and isinstance(url, str) and url else None


# -- wiring -------------------------------------------------------------------------------------


def add_routes(app: web.Application, path: str = "") -> None:
    """Mount the agents and knowledge routes next to did_streams' (mounted first: documents
    are fetched with its reader, and its chats answer from here); the store lives at `path`
    ("" = in memory)."""
    store = KnowledgeStore(path)
    app[AGENTS] = store
    app[TASKS] = set()
    registry = app[STREAMS]

    def context(agent_id: str, question: str) -> tuple[list[dict], list[dict]]:
        system, passages = chat_prompt(store, agent_id, question)
        return system, [p.as_match() for p in passages]

    registry.chat_context = context
    registry.agent_photo = lambda agent_id: agent_photo(store, agent_id)

    async def stop(app: web.Application) -> None:
        for task in list(app[TASKS]):
            task.cancel()
        await asyncio.gather(*app[TASKS], return_exceptions=True)
        store.close()

    app.on_cleanup.append(stop)
    app.router.add_post("/knowledge", create_knowledge)
    app.router.add_get("/knowledge", list_knowledge)
    app.router.add_get("/knowledge/{id}", get_knowledge)
    app.router.add_patch("/knowledge/{id}", update_knowledge)
    app.router.add_delete("/knowledge/{id}", delete_knowledge)
    app.router.add_post("/knowledge/{id}/documents", create_document)
    app.router.add_get("/knowledge/{id}/documents", list_documents)
    app.router.add_get("/knowledge/{id}/documents/{document_id}", get_document)
    app.router.add_delete("/knowledge/{id}/documents/{document_id}", delete_document)
    app.router.add_post("/agents", create_agent)
    app.router.add_get("/agents", list_agents)
    app.router.add_get("/agents/{agent_id}", get_agent)
    app.router.add_patch("/agents/{agent_id}", update_agent)
    app.router.add_delete("/agents/{agent_id}", delete_agent)
