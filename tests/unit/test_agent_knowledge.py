"""What may become agent knowledge, and how an agent avatar is configured (no network)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents.models import Agent, KnowledgeBase, KnowledgeDocument
from agents.validators import MAX_UPLOAD_BYTES, check_document_bytes, document_type_for
from avatars.models import Avatar


@pytest.mark.parametrize(("name", "kind"), [
    ("facts.pdf", "pdf"), ("NOTES.TXT", "text"), ("readme.md", "markdown"),
    ("guide.markdown", "markdown"), ("report.docx", None), ("photo.png", None), ("noext", None),
])
def test_only_pdf_text_and_markdown_have_a_document_type(name, kind):
    assert document_type_for(name) == kind


def test_a_real_pdf_and_utf8_text_pass():
    check_document_bytes("a.pdf", b"%PDF-1.7\n...", 100)
    check_document_bytes("a.md", "# Café notes\n".encode(), 14)
    # A multi-byte character cut at the sniffing boundary is still text.
    check_document_bytes("a.txt", "é".encode()[:1], 1)


@pytest.mark.parametrize(("name", "head", "size", "code"), [
    ("a.pdf", b"PK\x03\x04 a zip renamed", 100, "not_pdf"),
    ("a.txt", b"\xff\xfe\x00binary", 100, "not_text"),
    ("a.md", b"text with a NUL \x00 byte", 100, "not_text"),
    ("a.exe", b"MZ", 100, "unsupported_type"),
    ("a.txt", b"", 0, "empty"),
    ("a.txt", b"big", MAX_UPLOAD_BYTES + 1, "too_large"),
])
def test_files_that_are_not_what_they_claim_are_refused_with_a_reason(name, head, size, code):
    with pytest.raises(ValidationError) as caught:
        check_document_bytes(name, head, size)
    assert caught.value.code == code


def test_a_document_is_a_file_or_a_url_never_both_or_neither(db):
    knowledge = KnowledgeBase.objects.create(name="K")
    with pytest.raises(ValidationError):
        KnowledgeDocument(knowledge_base=knowledge, title="t").clean()
    both = KnowledgeDocument(knowledge_base=knowledge, title="t", url="https://x.test/a.pdf",
                             file="knowledge/a.pdf")
    with pytest.raises(ValidationError):
        both.clean()


@pytest.mark.parametrize(("url", "kind"), [
    ("https://x.test/a.pdf", "pdf"), ("https://x.test/a.md?raw=1", "markdown"),
    ("https://x.test/about", "html"),
])
def test_a_url_document_s_type_comes_from_its_path(url, kind):
    assert KnowledgeDocument(title="t", url=url).document_type() == kind


@pytest.mark.parametrize(("status", "ours"), [
    ("done", "done"), ("rejected", "failed"), ("error", "failed"), ("processing", "processing"),
    ("created", "processing"),
])
def test_d_id_s_document_status_becomes_ours(db, status, ours):
    document = KnowledgeDocument.objects.create(
        knowledge_base=KnowledgeBase.objects.create(name="K"), title="t", url="https://x.test/a"
    )
    assert document.record_vendor_status(status) == ours
    document.refresh_from_db()
    assert document.status == ours and document.vendor_status == status
    assert bool(document.vendor_error) == (ours == "failed")


def test_an_agent_needs_its_face_and_a_list_of_starter_texts():
    with pytest.raises(ValidationError) as caught:
        Agent(name="A", instructions="x", starter_messages="hi").clean()
    assert {"source_image", "starter_messages"} <= set(caught.value.message_dict)
    with pytest.raises(ValidationError) as caught:
        Agent(name="A", presenter_type="clip", instructions="x").clean()
    assert "presenter_id" in caught.value.message_dict
    Agent(name="A", source_url="https://x.test/a.jpg", instructions="x",
          starter_messages=["What do you know?"]).clean()


def test_an_agents_avatar_may_name_a_managed_agent_instead_of_a_d_id_id(db):
    agent = Agent.objects.create(name="Nova", source_url="https://x.test/n.jpg", instructions="x")
    avatar = Avatar(name="Nova", slug="nova", provider="did_agents", managed_agent=agent)
    avatar.full_clean()  # not synced yet: the id arrives with the first sync
    Agent.objects.filter(pk=agent.pk).update(did_agent_id="agt_42")
    avatar.managed_agent.refresh_from_db()
    avatar.full_clean()
    assert avatar.agent_id == "agt_42"


@pytest.mark.parametrize(("provider", "mode", "through_agent"), [
    ("did_agents", "agent", True), ("did_agents", "persona", False),
    ("did_talks", "agent", False), ("heygen", "agent", False),
])
def test_only_agents_avatars_set_to_the_agent_answer_through_it(provider, mode, through_agent):
    avatar = Avatar(name="A", slug="a", provider=provider, reply_mode=mode)
    assert avatar.answers_through_agent is through_agent


def test_only_a_managed_agents_avatar_offers_starter_messages():
    agent = Agent(name="Keeper", instructions="x",
                  starter_messages=["Who keeps the light?", "   ", " Where is it? "])
    assert Avatar(provider="did_agents", managed_agent=agent).starter_messages() == [
        "Who keeps the light?", "Where is it?"]
    assert Avatar(provider="did_agents", agent_id="agt_studio").starter_messages() == []
    assert Avatar(provider="did_talks", managed_agent=agent).starter_messages() == []
