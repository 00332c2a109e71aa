"""The engine's knowledge: documents chunked and indexed with SQLite FTS5, searched with BM25.
Pure: no network, no models."""

from __future__ import annotations

import pytest

from engine.config import EngineConfig
from engine.knowledge import (
    ExtractionError,
    KnowledgeStore,
    chunk_text,
    extract_text,
    match_query,
)

from .pdfs import tiny_pdf


def test_short_paragraphs_share_a_passage_and_long_ones_are_cut_with_overlap():
    assert chunk_text("one two\n\nthree four", words=10, overlap=2) == ["one two three four"]
    words = [f"w{i}" for i in range(25)]
    chunks = chunk_text(" ".join(words), words=10, overlap=3)
    assert chunks[0].split() == words[:10]
    assert chunks[1].split()[:3] == words[7:10]  # the overlap repeats the end of the last one
    assert chunks[-1].split()[-1] == "w24"
    assert set(" ".join(chunks).split()) == set(words)  # nothing is lost


def test_a_fact_is_never_split_from_its_paragraph_when_it_fits():
    text = ("filler " * 100).strip() + "\n\nThe moon base is called Selene-7."
    chunks = chunk_text(text, words=120, overlap=30)
    assert any("The moon base is called Selene-7." in chunk for chunk in chunks)


def test_a_question_becomes_quoted_words_so_fts5_syntax_in_it_is_harmless():
    assert match_query('What is "the" moon-base called? NEAR(x) OR *') == (
        '"what" OR "is" OR "the" OR "moon" OR "base" OR "called" OR "near" OR "or"'
    )
    assert match_query("?!") == ""


def test_the_passage_holding_the_answer_ranks_first():
    store = KnowledgeStore()
    knowledge = store.create_knowledge("Facts", "")
    other = store.create_knowledge("Other", "")
    doc = store.create_document(knowledge["id"], title="Moon", document_type="text",
                                source_url="https://x.test/moon.txt")
    text = ("The weather on Mars is cold and dusty.\n\n"
            "The moon base is called Selene-7 and was founded in 2091.\n\n"
            "Cheese is made from milk.")
    store.index_document(knowledge["id"], doc["id"], text)
    foreign = store.create_document(other["id"], title="Decoy", document_type="text",
                                    source_url="https://x.test/decoy.txt")
    store.index_document(other["id"], foreign["id"], "The moon base is called Decoy-1.")

    [best, *_] = store.search(knowledge["id"], "What is the name of the moon base?")
    assert "Selene-7" in best.text and best.knowledge_id == knowledge["id"]
    assert all(p.knowledge_id == knowledge["id"]
               for p in store.search(knowledge["id"], "moon base"))
    assert store.search(knowledge["id"], "??") == []
    assert store.document(knowledge["id"], doc["id"].split("#")[1])["status"] == "done"


def test_deleting_a_document_or_a_knowledge_base_removes_its_passages():
    store = KnowledgeStore()
    knowledge = store.create_knowledge("Facts", "")
    doc = store.create_document(knowledge["id"], title="Moon", document_type="text",
                                source_url="https://x.test/moon.txt")
    store.index_document(knowledge["id"], doc["id"], "Selene-7 is the moon base.")
    assert store.delete_document(knowledge["id"], doc["id"])
    assert store.search(knowledge["id"], "Selene") == []
    assert store.delete_knowledge(knowledge["id"]) and store.knowledge(knowledge["id"]) is None


def test_the_store_survives_a_restart_when_it_has_a_file(tmp_path):
    path = str(tmp_path / "knowledge.sqlite3")
    store = KnowledgeStore(path)
    knowledge = store.create_knowledge("Facts", "")
    doc = store.create_document(knowledge["id"], title="Moon", document_type="text",
                                source_url="https://x.test/moon.txt")
    store.index_document(knowledge["id"], doc["id"], "Selene-7 is the moon base.")
    agent = store.create_agent({"presenter": {"type": "talk"}})
    store.close()
    again = KnowledgeStore(path)
    assert again.search(knowledge["id"], "Selene")[0].text == "Selene-7 is the moon base."
    assert again.agent(agent["id"])["presenter"] == {"type": "talk"}


@pytest.mark.parametrize(("data", "kind", "text"), [
    (tiny_pdf("The moon base is called Selene-7."), "pdf", "Selene-7"),
    (b"# Facts\n\n*Selene-7* is the base.", "markdown", "Selene-7"),
    (b"<html><script>x()</script><p>Selene-7 &amp; more</p></html>", "html", "Selene-7 & more"),
])
def test_pdf_markdown_and_html_documents_yield_their_text(data, kind, text):
    extracted = extract_text(data, kind)
    assert text in extracted and "x()" not in extracted


@pytest.mark.parametrize(("data", "kind", "reason"), [
    (b"%PDF-1.4 garbage", "pdf", "PDF"),
    (b"\xff\xfe\x00", "text", "UTF-8"),
    (b"   \n ", "markdown", "no readable text"),
])
def test_unreadable_documents_say_why(data, kind, reason):
    with pytest.raises(ExtractionError, match=reason):
        extract_text(data, kind)


def test_the_engine_keeps_its_knowledge_next_to_the_products_run_time_state(tmp_path):
    assert EngineConfig.from_env({"VAR_DIR": str(tmp_path)}).knowledge_db == str(
        tmp_path / "engine-knowledge.sqlite3"
    )
    assert EngineConfig.from_env({"VAR_DIR": str(tmp_path),
                                  "ENGINE_KNOWLEDGE_DB": "/x/k.db"}).knowledge_db == "/x/k.db"
    assert EngineConfig.from_env({}).knowledge_db == ""
    store = KnowledgeStore(str(tmp_path / "new" / "dir" / "k.sqlite3"))  # folders are made
    store.close()
