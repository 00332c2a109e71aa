"""What staff may upload as agent knowledge: PDF, plain text or Markdown, checked by content too.

The extension alone is not enough (a renamed binary would reach D-ID and fail there, later and
less clearly), so a PDF must start with the PDF signature and text must be UTF-8.
"""

from __future__ import annotations

import codecs
from pathlib import PurePosixPath

from django.core.exceptions import ValidationError

# Extension -> D-ID's `documentType` (https://docs.d-id.com/reference/knowledge-overview).
UPLOAD_TYPES = {".pdf": "pdf", ".txt": "text", ".md": "markdown", ".markdown": "markdown"}
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
_SNIFF_BYTES = 64 * 1024


def document_type_for(name: str) -> str | None:
    """D-ID's document type for a file or URL path by its extension, or None if we refuse it."""
    return UPLOAD_TYPES.get(PurePosixPath(name.lower()).suffix)


def check_document_bytes(name: str, head: bytes, size: int) -> None:
    """ValidationError unless `head` (the file's first bytes) fits the extension of `name`."""
    kind = document_type_for(name)
    if kind is None:
        raise ValidationError(
            "Upload a PDF, a text (.txt) or a Markdown (.md) file.", code="unsupported_type"
        )
    if size > MAX_UPLOAD_BYTES:
        raise ValidationError(
            f"The file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB.", code="too_large"
        )
    if size == 0:
        raise ValidationError("The file is empty.", code="empty")
    if kind == "pdf":
        if not head.startswith(b"%PDF-"):
            raise ValidationError("This file is not a PDF (no PDF signature).", code="not_pdf")
        return
    try:
        # Incremental, so a multi-byte character cut at the sniffing boundary is not an error.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        raise ValidationError("Text and Markdown files must be UTF-8 text.", code="not_text") from None
    if b"\x00" in head:
        raise ValidationError("Text and Markdown files must be UTF-8 text.", code="not_text")


def validate_knowledge_file(file) -> None:
    """Model-field validator for an uploaded knowledge document."""
    position = file.tell() if hasattr(file, "tell") else 0
    file.seek(0)
    head = file.read(_SNIFF_BYTES)
    file.seek(position)
    check_document_bytes(file.name, head, file.size)
