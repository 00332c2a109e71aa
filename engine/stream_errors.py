"""Why a stream refuses a request: raised by `StreamSession`, answered by the D-ID handlers."""

from __future__ import annotations


class StreamRequestError(Exception):
    """A request this stream cannot honour in its current state."""


class AnswerRejected(StreamRequestError):
    pass


class CandidateRejected(StreamRequestError):
    pass


class NotAnswered(StreamRequestError):
    pass


class StreamClosed(StreamRequestError):
    pass
