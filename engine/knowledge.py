"""The engine's agents and knowledge: kept in SQLite, documents chunked and searched with FTS5.

Why SQLite FTS5 with its built-in BM25 ranking (stdlib `sqlite3`) rather than rank-bm25 or a
vector store: it ships with Python (no new dependency, no model to load), the index lives on
disk next to the agents and survives an engine restart, and BM25 over a few documents finds a
made-up fact by its words, which is what an offline stand-in for D-ID's RAG needs.

Blocking: every method runs SQL (and PDF parsing) synchronously; callers in the event loop go
through `asyncio.to_thread`. One connection, guarded by a lock, serves all threads.
"""

from __future__ import annotations

import html
import io
import json
import re
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

CHUNK_WORDS = 120  # about a paragraph: enough context for an answer, small enough to rank well
CHUNK_OVERLAP = 30  # words repeated between chunks, so a fact on a boundary stays whole
MAX_QUERY_TERMS = 32

_SCHEMA = """
CREATE TABLE IF NOT EXISTS knowledge (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, description TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY, knowledge_id TEXT NOT NULL, title TEXT NOT NULL,
    document_type TEXT NOT NULL, source_url TEXT NOT NULL, status TEXT NOT NULL,
    error TEXT NOT NULL DEFAULT '', created TEXT NOT NULL, modified TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY, body TEXT NOT NULL, created TEXT NOT NULL, modified TEXT NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS passages USING fts5(
    text, title UNINDEXED, document_id UNINDEXED, knowledge_id UNINDEXED,
    tokenize = 'porter unicode61'
);
"""


class ExtractionError(Exception):
    """The document's bytes could not be read as its type says (the message is for people)."""


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    title: str
    document_id: str
    knowledge_id: str

    def as_match(self, source_url: str = "") -> dict[str, str]:
        """D-ID's chat `matches` entry (https://docs.d-id.com/reference/agents-overview)."""
        return {"id": self.id, "data": self.text, "title": self.title,
                "document_id": self.document_id, "knowledge_id": self.knowledge_id,
                "source_url": source_url}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


# -- text ---------------------------------------------------------------------------------------


class _TextOfHTML(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "br", "div", "li", "h1", "h2", "h3", "h4", "tr"):
            self.parts.append("\n\n")

    def handle_endtag(self, tag) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data) -> None:
        if not self._skip:
            self.parts.append(data)


def extract_text(data: bytes, document_type: str) -> str:
    """The readable text of a PDF, text, Markdown or HTML document."""
    if document_type == "pdf":
        from pypdf import PdfReader  # a heavy import only PDF documents need
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(io.BytesIO(data))
            text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
        except (PdfReadError, ValueError, KeyError, TypeError) as exc:
            raise ExtractionError(f"the PDF could not be read ({type(exc).__name__})") from None
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ExtractionError("the document is not UTF-8 text") from None
        if document_type == "html":
            parser = _TextOfHTML()
            parser.feed(text)
            text = html.unescape("".join(parser.parts))
    if not text.strip():
        raise ExtractionError("the document has no readable text")
    return text


def chunk_text(text: str, *, words: int = CHUNK_WORDS, overlap: int = CHUNK_OVERLAP) -> list[str]:
    """Split `text` into passages of about `words` words, paragraph by paragraph, each
    overlapping the previous one by `overlap` words when a paragraph has to be cut."""
    if overlap >= words:
        raise ValueError("overlap must be smaller than the chunk size")
    chunks: list[str] = []
    current: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        tokens = paragraph.split()
        if not tokens:
            continue
        if current and len(current) + len(tokens) > words:
            chunks.append(" ".join(current))
            current = []
        while len(tokens) > words:
            chunks.append(" ".join(tokens[:words]))
            tokens = tokens[words - overlap :]
        current.extend(tokens)
    if current:
        chunks.append(" ".join(current))
    return chunks


def match_query(question: str) -> str:
    """An FTS5 query for `question`: its words, each quoted (so no word is read as FTS5
    syntax), any of them (OR); BM25 ranks passages with more and rarer words first."""
    terms = re.findall(r"\w+", question.lower())
    unique = list(dict.fromkeys(t for t in terms if len(t) > 1))[:MAX_QUERY_TERMS]
    return " OR ".join(f'"{t}"' for t in unique)


# -- the store ----------------------------------------------------------------------------------


class KnowledgeStore:
    """Agents, knowledge bases, documents and their indexed passages, in one SQLite database."""

    def __init__(self, path: str = "") -> None:
        # An empty path keeps everything in memory (tests, and an engine told not to persist).
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _all(self, sql: str, *args: Any) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, *args: Any) -> int:
        with self._lock, self._db:
            return self._db.execute(sql, args).rowcount

    # knowledge bases

    def create_knowledge(self, name: str, description: str) -> dict:
        row = {"id": new_id("knl"), "name": name, "description": description,
               "created": now_iso()}
        self._write("INSERT INTO knowledge VALUES (?, ?, ?, ?)", *row.values())
        return self.knowledge(row["id"])

    def knowledge(self, knowledge_id: str) -> dict | None:
        rows = self._all("SELECT * FROM knowledge WHERE id = ?", knowledge_id)
        if not rows:
            return None
        statuses = {r["status"] for r in self._all(
            "SELECT status FROM documents WHERE knowledge_id = ?", knowledge_id)}
        status = "done" if statuses <= {"done"} else "processing"
        if statuses & {"error", "rejected"}:
            status = "error"
        return {**dict(rows[0]), "type": "knowledge", "status": status if statuses else ""}

    def rename_knowledge(self, knowledge_id: str, name: str, description: str) -> dict | None:
        if not self._write("UPDATE knowledge SET name = ?, description = ? WHERE id = ?",
                           name, description, knowledge_id):
            return None
        return self.knowledge(knowledge_id)

    def knowledge_bases(self) -> list[dict]:
        return [self.knowledge(r["id"]) for r in self._all("SELECT id FROM knowledge")]

    def delete_knowledge(self, knowledge_id: str) -> bool:
        with self._lock, self._db:
            self._db.execute("DELETE FROM passages WHERE knowledge_id = ?", (knowledge_id,))
            self._db.execute("DELETE FROM documents WHERE knowledge_id = ?", (knowledge_id,))
            return bool(self._db.execute("DELETE FROM knowledge WHERE id = ?",
                                         (knowledge_id,)).rowcount)

    # documents

    def create_document(self, knowledge_id: str, *, title: str, document_type: str,
                        source_url: str) -> dict:
        document_id = f"{knowledge_id}#{new_id('doc')}"
        stamp = now_iso()
        self._write("INSERT INTO documents VALUES (?, ?, ?, ?, ?, 'processing', '', ?, ?)",
                    document_id, knowledge_id, title, document_type, source_url, stamp, stamp)
        return self.document(knowledge_id, document_id)

    def document(self, knowledge_id: str, document_id: str) -> dict | None:
        """A document by its full id ("knl_…#doc_…") or by the part after '#'."""
        full = document_id if "#" in document_id else f"{knowledge_id}#{document_id}"
        rows = self._all("SELECT * FROM documents WHERE id = ? AND knowledge_id = ?",
                         full, knowledge_id)
        if not rows:
            return None
        row = dict(rows[0])
        return {"id": row["id"], "title": row["title"], "documentType": row["document_type"],
                "source_url": row["source_url"], "status": row["status"],
                "error": row["error"], "type": "document", "created_at": row["created"],
                "modified_at": row["modified"]}

    def documents(self, knowledge_id: str) -> list[dict]:
        return [self.document(knowledge_id, r["id"]) for r in self._all(
            "SELECT id FROM documents WHERE knowledge_id = ? ORDER BY created", knowledge_id)]

    def index_document(self, knowledge_id: str, document_id: str, text: str) -> int:
        """Chunk and index `text` as the document's passages; the document becomes "done"."""
        row = self.document(knowledge_id, document_id)
        if row is None:
            return 0  # deleted while it was being fetched
        chunks = chunk_text(text)
        with self._lock, self._db:
            self._db.execute("DELETE FROM passages WHERE document_id = ?", (row["id"],))
            self._db.executemany(
                "INSERT INTO passages (text, title, document_id, knowledge_id) VALUES (?, ?, ?, ?)",
                [(chunk, row["title"], row["id"], knowledge_id) for chunk in chunks],
            )
            self._db.execute("UPDATE documents SET status = 'done', error = '', modified = ? "
                             "WHERE id = ?", (now_iso(), row["id"]))
        return len(chunks)

    def fail_document(self, knowledge_id: str, document_id: str, error: str) -> None:
        full = document_id if "#" in document_id else f"{knowledge_id}#{document_id}"
        self._write("UPDATE documents SET status = 'error', error = ?, modified = ? WHERE id = ?",
                    error, now_iso(), full)

    def delete_document(self, knowledge_id: str, document_id: str) -> bool:
        full = document_id if "#" in document_id else f"{knowledge_id}#{document_id}"
        with self._lock, self._db:
            self._db.execute("DELETE FROM passages WHERE document_id = ?", (full,))
            return bool(self._db.execute(
                "DELETE FROM documents WHERE id = ? AND knowledge_id = ?", (full, knowledge_id)
            ).rowcount)

    def search(self, knowledge_id: str, question: str, *, limit: int = 4) -> list[Passage]:
        """The passages of the knowledge base that best match `question`, best first (BM25)."""
        query = match_query(question)
        if not query:
            return []
        rows = self._all(
            "SELECT rowid, text, title, document_id, knowledge_id FROM passages "
            "WHERE passages MATCH ? AND knowledge_id = ? ORDER BY bm25(passages) LIMIT ?",
            query, knowledge_id, limit,
        )
        return [Passage(f"psg_{r['rowid']}", r["text"], r["title"], r["document_id"],
                        r["knowledge_id"]) for r in rows]

    # agents

    def create_agent(self, body: dict) -> dict:
        agent_id, stamp = new_id("agt"), now_iso()
        self._write("INSERT INTO agents VALUES (?, ?, ?, ?)", agent_id, json.dumps(body),
                    stamp, stamp)
        return self.agent(agent_id)

    def agent(self, agent_id: str) -> dict | None:
        rows = self._all("SELECT * FROM agents WHERE id = ?", agent_id)
        if not rows:
            return None
        row = rows[0]
        return {**json.loads(row["body"]), "id": row["id"], "status": "done",
                "created": row["created"], "modified": row["modified"]}

    def agents(self) -> list[dict]:
        return [self.agent(r["id"]) for r in self._all("SELECT id FROM agents ORDER BY created")]

    def update_agent(self, agent_id: str, changes: dict) -> dict | None:
        current = self.agent(agent_id)
        if current is None:
            return None
        body = {k: v for k, v in current.items()
                if k not in ("id", "status", "created", "modified")}
        body.update(changes)
        self._write("UPDATE agents SET body = ?, modified = ? WHERE id = ?",
                    json.dumps(body), now_iso(), agent_id)
        return self.agent(agent_id)

    def delete_agent(self, agent_id: str) -> bool:
        return bool(self._write("DELETE FROM agents WHERE id = ?", agent_id))
