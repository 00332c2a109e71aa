"""Test helpers for the provider clients: a fake vendor on httpx.MockTransport that records what
went over the wire, the made-up keys, and the fixtures written from the vendors' public docs
(each fixture's `source` cites their URLs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

FIXTURES = Path(__file__).parent / "fixtures"

# Made-up keys: long and distinctive so a leak into a message or a log line is easy to spot.
DID_KEY = "ZGlkLXVzZXJAZXhhbXBsZS5jb20:did-test-key-0123456789"
HEYGEN_KEY = "heygen-test-key-ABCDEFGHIJKLMNOP"
DEEPGRAM_KEY = "deepgram-test-key-QRSTUVWXYZ"
GROQ_KEY = "gsk_groq-test-key-abcdefghijklmnop"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


class Wire:
    """Answers requests from a script per (method, path) and records every request it saw.

    A script entry is an httpx.Response, an exception class from httpx (raised with the
    request) or a callable taking the request. The last entry of a script repeats.
    """

    def __init__(self) -> None:
        self.scripts: dict[tuple[str, str], list[Any]] = {}
        self.requests: list[httpx.Request] = []

    def on(self, method: str, path: str, *answers: Any) -> Wire:
        self.scripts[(method, path)] = list(answers)
        return self

    def reply(self, method: str, path: str, status: int, body: Any = None, headers=None) -> Wire:
        return self.on(method, path, httpx.Response(status, json=body, headers=headers))

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        script = self.scripts.get((request.method, request.url.path))
        if not script:
            return httpx.Response(
                404, json={"kind": "NotFoundError", "description": "no such route"}
            )
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, type) and issubclass(answer, Exception):
            raise answer("scripted failure", request=request)
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handler))

    def sent(self) -> list[dict[str, Any]]:
        """What went over the wire: method, path, headers and JSON body of each request."""
        return [
            {
                "method": r.method,
                "path": r.url.path,
                "headers": dict(r.headers),
                "json": json.loads(r.content) if r.content else None,
            }
            for r in self.requests
        ]


def assert_sent(sent: dict[str, Any], expected: dict[str, Any], api_key: str) -> None:
    """`sent` matches a documented request: method, path, the documented headers and the body."""
    assert sent["method"] == expected["method"]
    assert sent["path"] == expected["path"]
    for name, value in expected["headers"].items():
        assert sent["headers"].get(name) == value.format(api_key=api_key), name
    assert sent["json"] == expected["json"]


def answer(exchange: dict[str, Any]) -> httpx.Response:
    response = exchange["response"]
    return httpx.Response(response["status"], json=response["json"])


class Sleeper:
    """Stands in for asyncio.sleep in RetryPolicy: records the waits, does not wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
