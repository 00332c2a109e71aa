"""D-ID's errors, as the local engine answers them: an HTTP status plus ``{kind, description}``.

Shapes follow D-ID's error responses (https://docs.d-id.com/reference/overview-3).
"""

from __future__ import annotations

from aiohttp import web

from .stream_errors import NotAnswered, StreamClosed, StreamRequestError


class DidError(Exception):
    """An error answered the way D-ID answers: HTTP status plus ``{kind, description}``."""

    def __init__(self, status: int, kind: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.kind = kind
        self.description = description

    def response(self) -> web.Response:
        return web.json_response(
            {"kind": self.kind, "description": self.description}, status=self.status
        )


def invalid(description: str) -> DidError:
    return DidError(400, "ValidationError", description)


def stream_error(exc: StreamRequestError) -> DidError:
    if isinstance(exc, StreamClosed):
        return DidError(404, "NotFoundError", "stream not found (it was closed)")
    if isinstance(exc, NotAnswered):
        return DidError(
            400,
            "StreamNotReadyError",
            "the stream has no SDP answer yet: POST the answer to .../{id}/sdp before talking",
        )
    return invalid(str(exc))  # AnswerRejected, CandidateRejected


class NoFace(Exception):
    """The image decodes but has no face to animate."""


class NotImage(Exception):
    """The bytes are not an image."""


class UnknownPresenter(Exception):
    pass
