"""The engine's D-ID Agents and Knowledge endpoints, as the product's sync and chat use them:
agents and documents created, documents fetched from the media folder and indexed in the
background, and a chat that answers from the retrieved passages. No WebRTC, no models: the
LLM is a recorder (the real one is exercised by the `engine`-marked test at the end)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient, TestServer

from engine.config import EngineConfig
from engine.did_agents import chat_prompt
from engine.did_errors import NoFace
from engine.knowledge import KnowledgeStore
from engine.server import build_app
from streaming.providers.avatar.did import DIDProvider
from streaming.providers.avatar.did_agents import AgentSpec, DIDAgentsClient

from .pdfs import tiny_pdf

KEY = "test-engine-key"
AUTH = {"Authorization": f"Basic {KEY}"}
FACT = "The moon base is called Selene-7."


class RecordingLLM:
    def __init__(self) -> None:
        self.seen: list[list[dict]] = []

    async def __call__(self, messages: list[dict]) -> str:
        self.seen.append(messages)
        system = messages[0]["content"] if messages[0]["role"] == "system" else ""
        return "It is called Selene-7." if "Selene-7" in system else "I do not know."


class NoAvatars:
    async def from_image(self, *args, **kwargs):
        raise AssertionError("no stream in these tests")

    from_presenter = from_image


@pytest.fixture
def media(tmp_path):
    root = tmp_path / "media"
    (root / "knowledge").mkdir(parents=True)
    (root / "knowledge" / "facts.md").write_text(
        "# Station notes\n\nThe weather outside is cold.\n\n" + FACT + "\n"
    )
    (root / "knowledge" / "facts.pdf").write_bytes(tiny_pdf(FACT))
    (root / "knowledge" / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    return root


@pytest.fixture
def llm():
    return RecordingLLM()


@pytest.fixture
async def engine(media, llm):
    config = EngineConfig(api_key=KEY, media_root=media, loopback_ice=False)
    app = build_app(config, avatars=NoAvatars(), optional_modules=(), llm=llm)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def post(engine, path: str, body: dict, status: int = 200) -> dict:
    response = await engine.post(path, json=body, headers=AUTH)
    assert response.status == status, await response.text()
    return await response.json()


async def get(engine, path: str, status: int = 200) -> dict:
    response = await engine.get(path, headers=AUTH)
    assert response.status == status, await response.text()
    return await response.json()


async def processed(engine, knowledge_id: str, document_id: str) -> dict:
    path = f"/knowledge/{knowledge_id}/documents/{document_id.split('#')[1]}"
    for _ in range(100):
        document = await get(engine, path)
        if document["status"] != "processing":
            return document
        await asyncio.sleep(0.05)
    raise AssertionError("the document was never processed")


async def agent_with_document(engine, filename: str) -> tuple[str, dict]:
    knowledge = await post(engine, "/knowledge", {"name": "Station", "description": "notes"})
    kind = "pdf" if filename.endswith(".pdf") else "markdown"
    document = await post(engine, f"/knowledge/{knowledge['id']}/documents", {
        "documentType": kind, "title": "Station notes",
        "source_url": f"http://127.0.0.1:8000/media/knowledge/{filename}",
    })
    assert document["status"] == "processing" and "#doc_" in document["id"]
    agent = await post(engine, "/agents", {
        "presenter": {"type": "talk", "source_url": "http://127.0.0.1:8000/media/face.jpg"},
        "llm": {"provider": "openai", "model": "x", "instructions": "You are Nova, on the moon."},
        "knowledge": {"provider": "pinecone", "id": knowledge["id"]},
        "preview_name": "Nova", "greetings": ["Hi"],
    })
    return agent["id"], await processed(engine, knowledge["id"], document["id"])


@pytest.mark.parametrize("filename", ["facts.md", "facts.pdf"])
async def test_an_agent_answers_a_made_up_fact_from_its_document(engine, llm, filename):
    agent_id, document = await agent_with_document(engine, filename)
    assert document["status"] == "done", document
    chat = await post(engine, f"/agents/{agent_id}/chat", {}, status=201)
    answer = await post(engine, f"/agents/{agent_id}/chat/{chat['id']}", {
        "messages": [{"role": "user", "content": "What is the moon base called?",
                      "created_at": "03/03/2024, 18:15:00"}],
    })
    assert answer["result"] == "It is called Selene-7."
    assert answer["matches"] and "Selene-7" in answer["matches"][0]["data"]
    assert answer["documentIds"] == [document["id"]]
    system = llm.seen[-1][0]
    assert system["role"] == "system" and "You are Nova, on the moon." in system["content"]
    assert llm.seen[-1][-1] == {"role": "user", "content": "What is the moon base called?"}


async def test_an_agent_without_the_fact_in_its_knowledge_is_not_given_it(engine, llm):
    agent_id, _ = await agent_with_document(engine, "facts.md")
    other = await post(engine, "/agents", {"presenter": {"type": "talk"},
                                           "llm": {"instructions": "You are Max."}})
    chat = await post(engine, f"/agents/{other['id']}/chat", {}, status=201)
    answer = await post(engine, f"/agents/{other['id']}/chat/{chat['id']}", {
        "messages": [{"role": "user", "content": "What is the moon base called?"}]})
    assert answer["matches"] == [] and answer["result"] == "I do not know."


async def test_a_document_that_cannot_be_read_reports_why(engine):
    knowledge = await post(engine, "/knowledge", {"name": "K", "description": ""})
    base = f"/knowledge/{knowledge['id']}/documents"
    broken = await post(engine, base, {"documentType": "pdf",
                                       "source_url": "http://127.0.0.1:8000/media/knowledge/broken.pdf"})
    missing = await post(engine, base, {"documentType": "text",
                                        "source_url": "http://127.0.0.1:8000/media/knowledge/nope.txt"})
    broken = await processed(engine, knowledge["id"], broken["id"])
    missing = await processed(engine, knowledge["id"], missing["id"])
    assert broken["status"] == "error" and "PDF" in broken["error"]
    assert missing["status"] == "error" and "source_url" in missing["error"]
    assert (await get(engine, f"/knowledge/{knowledge['id']}"))["status"] == "error"


async def test_agents_are_read_updated_and_deleted(engine):
    agent = await post(engine, "/agents", {"presenter": {"type": "talk"}, "preview_name": "A",
                                           "llm": {"instructions": "one"}})
    response = await engine.patch(f"/agents/{agent['id']}", headers=AUTH,
                                  json={"llm": {"instructions": "two"}})
    assert response.status == 200
    again = await get(engine, f"/agents/{agent['id']}")
    assert again["llm"]["instructions"] == "two" and again["preview_name"] == "A"
    assert [a["id"] for a in await get(engine, "/agents")] == [agent["id"]]
    assert (await engine.delete(f"/agents/{agent['id']}", headers=AUTH)).status == 200
    await get(engine, f"/agents/{agent['id']}", status=404)
    assert (await engine.delete(f"/agents/{agent['id']}", headers=AUTH)).status == 404


async def test_an_agent_drawn_with_the_engine_face_carries_its_idle_video_and_a_photo_agent_none(
    engine,
):
    # D-ID answers an agent with `presenter.idle_video`; the engine serves its default face's loop.
    drawn = await post(engine, "/agents", {"presenter": {"type": "clip", "presenter_id": "p"}})
    idle = f"http://127.0.0.1:{engine.port}/clips/presenters/local-astronaut/idle.webm"
    assert drawn["presenter"]["idle_video"] == idle
    assert (await get(engine, f"/agents/{drawn['id']}"))["presenter"]["idle_video"] == idle
    own = await post(engine, "/agents", {"presenter": {"type": "clip", "idle_video": "https://x/i.mp4"}})
    photo = await post(engine, "/agents", {
        "presenter": {"type": "talk", "source_url": "http://127.0.0.1:8000/media/face.jpg"}})
    listed = {a["id"]: a["presenter"].get("idle_video") for a in await get(engine, "/agents")}
    assert listed == {drawn["id"]: idle, own["id"]: "https://x/i.mp4", photo["id"]: None}


async def test_deleting_documents_and_knowledge_forgets_them(engine, llm):
    agent_id, document = await agent_with_document(engine, "facts.md")
    knowledge_id = document["id"].split("#")[0]
    path = f"/knowledge/{knowledge_id}/documents/{document['id'].split('#')[1]}"
    assert (await engine.delete(path, headers=AUTH)).status == 200
    await get(engine, path, status=404)
    chat = await post(engine, f"/agents/{agent_id}/chat", {}, status=201)
    answer = await post(engine, f"/agents/{agent_id}/chat/{chat['id']}", {
        "messages": [{"role": "user", "content": "What is the moon base called?"}]})
    assert answer["matches"] == []
    assert (await engine.delete(f"/knowledge/{knowledge_id}", headers=AUTH)).status == 200
    await get(engine, f"/knowledge/{knowledge_id}", status=404)


async def test_a_renamed_knowledge_base_keeps_its_id_and_documents(engine, llm):
    agent_id, document = await agent_with_document(engine, "facts.md")
    knowledge_id = document["id"].split("#")[0]
    response = await engine.patch(f"/knowledge/{knowledge_id}", headers=AUTH,
                                  json={"name": "Lunar station", "description": "renamed"})
    assert response.status == 200, await response.text()
    knowledge = await get(engine, f"/knowledge/{knowledge_id}")
    assert (knowledge["name"], knowledge["description"]) == ("Lunar station", "renamed")
    assert [d["id"] for d in await get(engine, f"/knowledge/{knowledge_id}/documents")] == [
        document["id"]]
    missing = await engine.patch("/knowledge/knl_nope", headers=AUTH, json={"name": "x"})
    assert missing.status == 404


@pytest.mark.parametrize(("path", "body", "reason"), [
    ("/knowledge", {"description": "no name"}, "name is required"),
    ("/knowledge", {"name": 5}, "name must be a string"),
    ("/agents", {"llm": {"instructions": "x"}}, "presenter"),
    ("/agents", {"presenter": {"type": "talk"}, "greetings": "hi"}, "greetings"),
    ("/agents", {"presenter": {"type": "talk"}, "knowledge": {"id": 7}}, "knowledge"),
])
async def test_bad_bodies_are_refused_in_d_id_s_error_shape(engine, path, body, reason):
    error = await post(engine, path, body, status=400)
    assert error["kind"] == "ValidationError" and reason in error["description"]


async def test_bad_documents_and_unknown_knowledge_are_refused(engine):
    knowledge = await post(engine, "/knowledge", {"name": "K"})
    base = f"/knowledge/{knowledge['id']}/documents"
    for body, reason in [
        ({"documentType": "word", "source_url": "https://x.test/a.docx"}, "documentType"),
        ({"documentType": "pdf", "source_url": "ftp://x.test/a.pdf"}, "http(s)"),
        ({"documentType": "pdf"}, "source_url is required"),
    ]:
        assert reason in (await post(engine, base, body, status=400))["description"]
    await post(engine, "/knowledge/knl_nope/documents",
               {"documentType": "pdf", "source_url": "https://x.test/a.pdf"}, status=404)


async def test_the_knowledge_api_needs_the_key(engine):
    response = await engine.post("/knowledge", json={"name": "K"})
    assert response.status == 401


async def test_the_products_clients_sync_an_agent_and_chat_with_it_on_the_engine(engine):
    """The admin's sync client and the reply path's chat, unchanged, against the engine."""
    base = str(engine.make_url(""))
    async with DIDAgentsClient(base, KEY) as did:
        knowledge_id = await did.create_knowledge("Station", "notes")
        document = await did.create_document(
            knowledge_id, title="Notes", document_type="markdown",
            source_url="http://127.0.0.1:8000/media/knowledge/facts.md",
        )
        agent_id = await did.create_agent(AgentSpec(
            name="Nova", presenter_type="talk", source_url="http://127.0.0.1:8000/media/f.jpg",
            instructions="You are Nova.", knowledge_id=knowledge_id,
        ))
        for _ in range(100):
            status = (await did.get_document(knowledge_id, document["id"]))["status"]
            if status != "processing":
                break
            await asyncio.sleep(0.05)
        assert status == "done"
    async with DIDProvider(base, KEY, "agents") as provider:
        chat_id = await provider.create_chat(agent_id)
        answer = await provider.chat(agent_id, chat_id, "What is the moon base called?")
    assert answer["result"] == "It is called Selene-7."


@pytest.mark.engine
async def test_the_engines_own_llm_answers_the_made_up_fact_from_the_document(media):
    """The real local LLM (groq_chat's model), given the retrieved passage, says the fact."""
    config = EngineConfig(api_key=KEY, media_root=media, loopback_ice=False)
    app = build_app(config, avatars=NoAvatars(), optional_modules=("groq_chat",))
    async with TestClient(TestServer(app, host="127.0.0.1")) as engine:
        agent_id, document = await agent_with_document(engine, "facts.md")
        assert document["status"] == "done"
        chat = await post(engine, f"/agents/{agent_id}/chat", {}, status=201)
        answer = await post(engine, f"/agents/{agent_id}/chat/{chat['id']}", {
            "messages": [{"role": "user", "content": "What is the moon base called?"}]})
    assert "selene" in answer["result"].lower(), answer["result"]


async def test_an_agents_stream_shows_the_photo_of_the_agent_created_here(media, llm):
    """The stream of a photo agent is built from that agent's own source_url."""
    faces: list[bytes] = []

    class RecordingAvatars:
        async def from_image(self, image: bytes, **kwargs):
            faces.append(image)
            raise NoFace("recorded")

        async def from_presenter(self, presenter_id, **kwargs):
            raise AssertionError("a photo agent must not fall back to a presenter")

    (media / "agents").mkdir()
    (media / "agents" / "nova.jpg").write_bytes(b"the agent's photo bytes")
    config = EngineConfig(api_key=KEY, media_root=media, loopback_ice=False)
    app = build_app(config, avatars=RecordingAvatars(), optional_modules=(), llm=llm)
    async with TestClient(TestServer(app, host="127.0.0.1")) as engine:
        agent = await post(engine, "/agents", {"presenter": {
            "type": "talk", "source_url": "http://127.0.0.1:8000/media/agents/nova.jpg"}})
        error = await post(engine, f"/agents/{agent['id']}/streams", {}, status=400)
    assert faces == [b"the agent's photo bytes"]
    assert error["kind"] == "FaceError"


def test_the_agents_prompt_puts_the_best_passage_first_and_asks_for_names_as_written():
    store = KnowledgeStore()
    knowledge = store.create_knowledge("Bay", "")
    document = store.create_document(knowledge["id"], title="Notes", document_type="text",
                                     source_url="https://x.test/a.txt")
    store.index_document(knowledge["id"], document["id"],
                         "The harbour has a stone pier.\n\n" + "Filler words here. " * 60
                         + "\n\nThe lighthouse keeper of Quillon Bay is named Ottoline Brask.")
    agent = store.create_agent({"presenter": {"type": "talk"}, "llm": {"instructions": "Be kind."},
                                "knowledge": {"id": knowledge["id"]}})
    [system], passages = chat_prompt(store, agent["id"], "Who is the lighthouse keeper?")
    content = system["content"]
    assert "Brask" in passages[0].text
    assert content.index("Ottoline Brask") < content.index("stone pier")
    assert content.rstrip().endswith("exactly as the passages write them.")
    store.close()
