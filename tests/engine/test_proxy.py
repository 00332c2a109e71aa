"""The parent's reverse proxy, against small stand-in children on unix sockets (no models).

Covers routing by path, relaying of JSON, server-sent events and WebSockets (with their close
code), the vendors' 503 shapes while a child is down, and D-ID's "gone" for a stream of a
media process that died.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine import roles
from engine.config import EngineConfig
from engine.proxy import FORWARDED_HOST_HEADER, RECEIVED_HEADER, build_proxy
from engine.supervisor import Supervisor


def child_app(role: str) -> web.Application:
    app = web.Application()

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "role": role,
                "path": request.path_qs,
                "body": (await request.text()) if request.can_read_body else None,
                "auth": request.headers.get("Authorization"),
                "received": request.headers.get(RECEIVED_HEADER),
                "forwarded_host": request.headers.getall(FORWARDED_HOST_HEADER, []),
            },
            status=201 if request.method == "POST" else 200,
            headers={"X-Child": role},
        )

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for n in range(3):
            await response.write(f"data: {n}\n\n".encode())
            await asyncio.sleep(0)
        await response.write(b"data: [DONE]\n\n")
        return response

    async def listen(request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != "Token good":
            return web.json_response(
                {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials.", "request_id": "r1"},
                status=401,
                headers={"dg-error": "Invalid credentials.", "dg-request-id": "r1"},
            )
        ws = web.WebSocketResponse()
        ws.headers["dg-request-id"] = "r2"
        await ws.prepare(request)
        async for message in ws:
            if message.type is aiohttp.WSMsgType.BINARY:
                await ws.send_json({"type": "Results", "bytes": len(message.data)})
            elif message.data == "CloseStream":
                await ws.send_json({"type": "Metadata"})
                await ws.close(code=1000, message=b"done")
            elif message.data == "bad":
                await ws.close(code=1008, message=b"policy")
        return ws

    async def speech(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "audio/pcm", "X-Child": role})
        await response.prepare(request)
        for n in range(3):
            await response.write(bytes([n]) * 480)
            await asyncio.sleep(0)
        return response

    async def stuck(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({})

    app.router.add_route("*", "/openai/v1/chat/completions", events)
    app.router.add_post("/talks/streams/strm_abc123stuck", stuck)
    app.router.add_post("/openai/v1/audio/speech", speech)
    app.router.add_get("/v1/listen", listen)
    app.router.add_route("*", "/{tail:.*}", echo)
    return app


@pytest.fixture
async def engine(tmp_path):
    """The proxy in front of three stand-in children, all ready."""
    config = EngineConfig(optional_modules=("deepgram_listen", "groq_chat"))
    supervisor = Supervisor(config, tmp_path)
    runners = []
    for role, child in supervisor.children.items():
        runner = web.AppRunner(child_app(role))
        await runner.setup()
        await web.UnixSite(runner, child.socket).start()
        runners.append(runner)
        child.session = aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=child.socket))
        child.ready = True
        child.instance = "abc123" if role == roles.MEDIA else None
    async with TestClient(TestServer(build_proxy(supervisor), host="127.0.0.1")) as client:
        client.supervisor = supervisor
        yield client
    for child in supervisor.children.values():
        await child.session.close()
    for runner in runners:
        await runner.cleanup()


async def test_requests_reach_the_child_of_their_role(engine):
    for path, role in [
        ("/talks/streams", "media"),
        ("/clips/streams/strm_abc123x?a=1", "media"),
        ("/agents/agt_1/chat/cht_1", "media"),
        ("/openai/v1/models", "llm"),
    ]:
        response = await engine.post(path, data=b'{"x": 1}', headers={"Authorization": "Basic k"})
        body = await response.json()
        assert response.status == 201
        assert response.headers["X-Child"] == role
        assert body["role"] == role and body["path"] == path
        assert body["body"] == '{"x": 1}' and body["auth"] == "Basic k"
        assert float(body["received"]) > 0  # the parent's receive time, for the talk trace
    assert (await engine.get("/nothing/here")).status == 404


async def test_the_child_learns_the_host_the_parent_was_asked_for_and_no_other(engine):
    # The child answers on a unix socket; its links (the idle videos in /clips/presenters) must
    # name the host the caller reached. A caller's own X-Forwarded-Host is not passed on.
    response = await engine.get("/clips/presenters", headers={"X-Forwarded-Host": "evil.example"})
    body = await response.json()
    assert body["forwarded_host"] == [f"127.0.0.1:{engine.port}"]


async def test_server_sent_events_are_relayed_in_order(engine):
    response = await engine.post("/openai/v1/chat/completions", json={})
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert await response.text() == "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: [DONE]\n\n"


async def test_speech_goes_to_the_media_process_and_is_relayed_as_it_comes(engine):
    response = await engine.post("/openai/v1/audio/speech", json={})
    assert response.headers["X-Child"] == "media"
    assert response.headers["Content-Type"] == "audio/pcm"
    assert "Content-Length" not in response.headers  # streamed, not gathered first
    assert await response.read() == b"\0" * 480 + b"\1" * 480 + b"\2" * 480


async def test_websockets_are_relayed_both_ways_with_the_close_code(engine):
    async with engine.session.ws_connect(
        engine.make_url("/v1/listen?encoding=linear16"), headers={"Authorization": "Token good"}
    ) as ws:
        await ws.send_bytes(b"\0" * 640)
        assert (await ws.receive_json())["bytes"] == 640
        await ws.send_str("CloseStream")
        assert (await ws.receive_json())["type"] == "Metadata"
        closing = await ws.receive()
        assert closing.type is aiohttp.WSMsgType.CLOSE and closing.data == 1000
    async with engine.session.ws_connect(
        engine.make_url("/v1/listen"), headers={"Authorization": "Token good"}
    ) as ws:
        await ws.send_str("bad")
        closing = await ws.receive()
        assert closing.data == 1008 and closing.extra == "policy"


async def test_a_refused_websocket_keeps_deepgrams_answer(engine):
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await engine.session.ws_connect(
            engine.make_url("/v1/listen"), headers={"Authorization": "Token bad"}
        )
    assert refused.value.status == 401
    assert refused.value.headers["dg-error"] == "Invalid credentials."


@pytest.mark.parametrize(
    ("path", "role", "shape"),
    [
        ("/talks/streams", "media", lambda b: b["kind"] == "ServiceUnavailableError"),
        (
            "/openai/v1/chat/completions",
            "llm",
            lambda b: b["error"]["code"] == "service_unavailable",
        ),
        ("/v1/listen", "stt", lambda b: b["err_code"] == "SERVICE_UNAVAILABLE"),
    ],
)
async def test_a_child_that_is_down_is_answered_in_its_vendors_503(engine, path, role, shape):
    engine.supervisor.children[role].ready = False
    response = await engine.post(path, json={})
    assert response.status == 503
    body = await response.json()
    assert shape(body)
    assert "restarting" in str(body)


async def test_a_child_dying_mid_request_gets_the_503_not_a_hang(engine):
    child = engine.supervisor.children["media"]
    await child.session.close()
    child.session = aiohttp.ClientSession(
        connector=aiohttp.UnixConnector(path=str(child.socket) + ".gone")
    )
    response = await engine.post("/talks/streams", json={})
    assert response.status == 503
    assert (await response.json())["kind"] == "ServiceUnavailableError"


async def test_a_stuck_child_gets_the_503_not_a_hang(engine, monkeypatch):
    monkeypatch.setattr(
        "engine.proxy.HTTP_TIMEOUT", aiohttp.ClientTimeout(total=None, sock_read=0.2)
    )
    response = await engine.post("/talks/streams/strm_abc123stuck", json={})
    assert response.status == 503
    assert (await response.json())["kind"] == "ServiceUnavailableError"


async def test_a_stream_of_a_dead_media_process_is_gone_in_did_shape(engine):
    media = engine.supervisor.children["media"]
    media.dead_instances.add("old999")
    response = await engine.post("/talks/streams/strm_old999tok/sdp", json={})
    assert response.status == 410
    body = await response.json()
    assert body["kind"] == "NotFoundError" and "strm_old999tok" in body["description"]
    response = await engine.delete("/agents/agt_1/streams/strm_old999tok", json={})
    assert response.status == 410
    # A stream of the live instance goes through.
    assert (await engine.post("/talks/streams/strm_abc123tok", json={})).status == 201


async def test_the_parent_health_names_each_process(engine):
    body = await (await engine.get("/health")).json()
    assert set(body["processes"]) == {"media", "stt", "llm"}
    assert body["status"] == "ok"
    engine.supervisor.children["stt"].ready = False
    response = await engine.get("/health")
    assert response.status == 503  # whoever waits for /health waits for every process
    body = await response.json()
    assert body["status"] == "degraded" and body["processes"]["stt"]["ready"] is False
