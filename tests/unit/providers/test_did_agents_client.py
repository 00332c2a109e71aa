"""D-ID's Agents and Knowledge APIs as the admin's sync uses them: what goes over the wire."""

from __future__ import annotations

import pytest

from streaming.providers.avatar.did_agents import (
    AgentSpec,
    DIDAgentsClient,
    agent_body,
    document_path_id,
)
from streaming.providers.errors import ProviderRejected, ProviderUnavailable

from .vendor_wire import DID_KEY, answer, assert_sent, load

BASE = "https://api.d-id.com"
API = load("did_agents_api.json")
EX = API["exchanges"]

SCARLETT = AgentSpec(
    name="Scarlett",
    presenter_type="talk",
    source_url="https://create-images-results.d-id.com/DefaultPresenters/Zivva_f/thumbnail.jpeg",
    voice={"type": "microsoft", "voice_id": "en-US-JennyMultilingualV2Neural"},
    instructions="You are Scarlett, an AI designed to assist with information about Louvre",
    llm_model="gpt-3.5-turbo",
    greeting="Hi, I am Scarlett. Ask me anything about the Louvre.",
    starter_messages=("Who was the first visitor of the Louvre?",),
    knowledge_id="knl_91YI41kaS8CuJtCS9SRz8",
)


def client(wire, retry) -> DIDAgentsClient:
    return DIDAgentsClient(BASE, DID_KEY, wire.client(), retry=retry)


async def test_a_knowledge_base_and_its_document_are_created_as_documented(wire, retry):
    wire.on("POST", "/knowledge", answer(EX["create_knowledge"]))
    wire.on("POST", EX["create_document"]["request"]["path"], answer(EX["create_document"]))
    wire.on("GET", EX["get_document"]["request"]["path"], answer(EX["get_document"]))
    doc = EX["create_document"]["request"]["json"]
    async with client(wire, retry) as did:
        knowledge_id = await did.create_knowledge(
            "CVBasedKnowledge", "This knowledge base contains information from my CV"
        )
        created = await did.create_document(
            knowledge_id, title=doc["title"], document_type="pdf", source_url=doc["source_url"]
        )
        status = await did.get_document(knowledge_id, created["id"])
    assert knowledge_id == "knl_91YI41kaS8CuJtCS9SRz8"
    assert created["status"] == "processing"
    assert status["status"] == "done"
    for sent, name in zip(wire.sent(), ["create_knowledge", "create_document", "get_document"],
                          strict=True):
        assert_sent(sent, EX[name]["request"], DID_KEY)


def test_the_document_id_in_paths_is_the_part_after_the_hash():
    assert document_path_id("knl_91YI41kaS8CuJtCS9SRz8#doc_xyz789") == "doc_xyz789"
    assert document_path_id("doc_xyz789") == "doc_xyz789"


async def test_an_agent_is_created_with_presenter_voice_llm_knowledge_greeting_and_starters(
    wire, retry
):
    wire.on("POST", "/agents", answer(EX["create_agent"]))
    async with client(wire, retry) as did:
        agent_id = await did.create_agent(SCARLETT)
    assert agent_id == "agt_Xy7Zq1Lm"
    assert_sent(wire.sent()[0], EX["create_agent"]["request"], DID_KEY)


async def test_an_edit_patches_the_same_body_onto_the_agent(wire, retry):
    wire.reply("PATCH", "/agents/agt_Xy7Zq1Lm", 200, {"id": "agt_Xy7Zq1Lm"})
    async with client(wire, retry) as did:
        await did.update_agent("agt_Xy7Zq1Lm", SCARLETT)
    sent = wire.sent()[0]
    assert sent["method"] == "PATCH"
    assert sent["json"] == EX["create_agent"]["request"]["json"]


def test_a_premium_presenter_agent_names_its_presenter_instead_of_a_photo():
    body = agent_body(AgentSpec(name="Amy", presenter_type="clip", presenter_id="amy-Aq6OmGZnMt",
                                instructions="Be brief."))
    assert body["presenter"] == {"type": "clip", "presenter_id": "amy-Aq6OmGZnMt"}
    assert "knowledge" not in body and "greetings" not in body


async def test_deletes_follow_the_documented_paths(wire, retry):
    for name in ("delete_document", "delete_knowledge", "delete_agent"):
        wire.on("DELETE", EX[name]["request"]["path"], answer(EX[name]))
    async with client(wire, retry) as did:
        await did.delete_document("knl_91YI41kaS8CuJtCS9SRz8", "knl_91YI41kaS8CuJtCS9SRz8#doc_xyz789")
        await did.delete_knowledge("knl_91YI41kaS8CuJtCS9SRz8")
        await did.delete_agent("agt_Xy7Zq1Lm")
    for sent, name in zip(wire.sent(), ["delete_document", "delete_knowledge", "delete_agent"],
                          strict=True):
        assert_sent(sent, EX[name]["request"], DID_KEY)


async def test_deleting_what_d_id_already_forgot_counts_as_deleted(wire, retry):
    wire.reply("DELETE", "/agents/agt_gone", 404, {"kind": "NotFoundError", "description": "nope"})
    async with client(wire, retry) as did:
        await did.delete_agent("agt_gone")  # no exception


async def test_a_rejected_document_reports_d_id_s_reason(wire, retry):
    wire.reply("POST", "/knowledge/knl_1/documents", 400,
               {"kind": "ValidationError", "description": "source_url is not reachable"})
    async with client(wire, retry) as did:
        with pytest.raises(ProviderRejected) as caught:
            await did.create_document("knl_1", title="t", document_type="text",
                                      source_url="https://example.com/a.txt")
    assert caught.value.code == "avatar_rejected"
    assert "source_url is not reachable" in caught.value.vendor_message


async def test_d_id_down_is_unavailable_after_the_retries(wire, retry):
    wire.reply("POST", "/agents", 503, {"kind": "InternalServerError", "description": "down"})
    async with client(wire, retry) as did:
        with pytest.raises(ProviderUnavailable):
            await did.create_agent(SCARLETT)
    assert len(wire.sent()) == retry.attempts


async def test_an_unsupported_document_type_is_refused_before_anything_is_sent(wire, retry):
    async with client(wire, retry) as did:
        with pytest.raises(ValueError):
            await did.create_document("knl_1", title="t", document_type="word",
                                      source_url="https://example.com/a.docx")
    assert wire.sent() == []


async def test_the_api_key_never_reaches_an_error(wire, retry):
    wire.reply("POST", "/knowledge", 401,
               {"kind": "AuthorizationError", "description": f"bad key {DID_KEY}"})
    async with client(wire, retry) as did:
        with pytest.raises(ProviderRejected) as caught:
            await did.create_knowledge("k", "d")
    assert DID_KEY not in str(caught.value) and caught.value.code == "avatar_auth"
