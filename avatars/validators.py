"""Uploads are checked for what they are, not only for what they are named: an avatar's files
are served from the site's own origin, and the photo is sent to the avatar provider."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator

IMAGE_EXTENSIONS = ["jpg", "jpeg", "png"]
VIDEO_EXTENSIONS = ["mp4", "webm"]

# Leading bytes of each accepted format (file signatures).
_IMAGE_SIGNATURES = {
    "JPEG": (b"\xff\xd8\xff",),
    "PNG": (b"\x89PNG\r\n\x1a\n",),
}


def _head(upload, size: int = 64) -> bytes:
    position = upload.tell() if hasattr(upload, "tell") else 0
    upload.seek(0)
    head = upload.read(size)
    upload.seek(position)
    return head


def image_kind(head: bytes) -> str | None:
    """"JPEG" or "PNG" when `head` starts such a file, else None."""
    for kind, signatures in _IMAGE_SIGNATURES.items():
        if head.startswith(signatures):
            return kind
    return None


def video_kind(head: bytes) -> str | None:
    """"MP4" (an ISO BMFF `ftyp` box first) or "WebM" (EBML with the webm doctype), else None."""
    if head[4:8] == b"ftyp":
        return "MP4"
    if head.startswith(b"\x1a\x45\xdf\xa3") and b"webm" in head:
        return "WebM"
    return None


def validate_photo(upload) -> None:
    """A JPEG or PNG photo: a face the avatar providers can animate and every browser shows."""
    FileExtensionValidator(IMAGE_EXTENSIONS)(upload)
    if image_kind(_head(upload)) is None:
        raise ValidationError("Upload a JPEG or PNG image.", code="invalid_image_type")


def validate_video(upload) -> None:
    """An MP4 or WebM video, which browsers play in <video>."""
    FileExtensionValidator(VIDEO_EXTENSIONS)(upload)
    if video_kind(_head(upload)) is None:
        raise ValidationError("Upload an MP4 or WebM video.", code="invalid_video_type")
