"""The engine's voice and presenter lists, in D-ID's shapes, behind D-ID's Basic auth.

Shapes: https://docs.d-id.com/reference/voices (GET /tts/voices) and
https://docs.d-id.com/reference/getpresenters (GET /clips/presenters).
"""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from engine import catalog
from engine.config import EngineConfig
from engine.presenters import DEFAULT_PRESENTER, presenter_ids, presenter_image

KEY = "test-engine-key"
AUTH = {"Authorization": f"Basic {KEY}"}


@pytest.fixture
async def engine():
    app = web.Application()
    catalog.add_routes(app, EngineConfig(api_key=KEY))
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        yield client


async def test_voices_list_the_piper_voice_as_d_id_lists_its_voices(engine):
    response = await engine.get("/tts/voices", headers=AUTH)
    assert response.status == 200
    voices = await response.json()
    assert isinstance(voices, list)
    assert [v["id"] for v in voices] == ["en_US-joe-medium"]
    joe = voices[0]
    assert joe["provider"] == "local"
    assert joe["locale"] == "en-US"
    assert joe["languages"] == [{"locale": "en-US", "language": "English (United States)"}]
    assert {"name", "gender", "access"} <= joe.keys()


async def test_presenters_are_the_bundled_portraits_the_clips_streams_accept(engine):
    response = await engine.get("/clips/presenters", headers=AUTH)
    assert response.status == 200
    listed = (await response.json())["presenters"]
    ids = [p["presenter_id"] for p in listed]
    assert DEFAULT_PRESENTER in ids
    assert ids == presenter_ids()
    for presenter in listed:
        assert presenter["driver_id"] == catalog.LOCAL_DRIVER
        assert presenter_image(presenter["presenter_id"]).ndim == 3  # each one really loads


@pytest.mark.parametrize("path", ["/tts/voices", "/clips/presenters"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Basic wrong"}, {"Authorization": KEY}])
async def test_the_lists_need_the_engine_key(engine, path, headers):
    response = await engine.get(path, headers=headers)
    assert response.status == 401
    assert (await response.json())["kind"] == "AuthorizationError"


def test_the_engine_app_serves_the_lists_next_to_the_streams():
    from engine.server import build_app

    app = build_app(EngineConfig(api_key=KEY, loopback_ice=False), optional_modules=())
    paths = {route.resource.canonical for route in app.router.routes() if route.method == "GET"}
    assert {"/tts/voices", "/clips/presenters"} <= paths


async def test_each_presenter_links_to_its_idle_loop_which_browsers_fetch_without_a_key(engine):
    # The loop itself is tested in test_idle_video.py; here, rendering is a stand-in.
    asked = []

    class Loops:
        def get(self, presenter_id: str) -> bytes:
            asked.append(presenter_id)
            return b"\x1a\x45\xdf\xa3 webm " + presenter_id.encode()

    engine.server.app[catalog.IDLE_VIDEOS]["loops"] = Loops()
    listed = (await (await engine.get("/clips/presenters", headers=AUTH)).json())["presenters"]
    base = f"http://127.0.0.1:{engine.port}"
    assert [p["idle_video"] for p in listed] == [
        f"{base}/clips/presenters/{pid}/idle.webm" for pid in presenter_ids()
    ]
    video = await engine.get(f"/clips/presenters/{DEFAULT_PRESENTER}/idle.webm")  # no key
    assert video.status == 200
    assert video.content_type == "video/webm"
    assert await video.read() == b"\x1a\x45\xdf\xa3 webm " + DEFAULT_PRESENTER.encode()
    missing = await engine.get("/clips/presenters/nobody/idle.webm")
    assert missing.status == 404 and (await missing.json())["kind"] == "NotFoundError"
    assert asked == [DEFAULT_PRESENTER]  # an unknown presenter renders nothing


async def test_through_the_parent_the_links_name_the_host_it_was_asked_for(engine):
    headers = {**AUTH, "X-Forwarded-Host": "127.0.0.1:8700"}
    listed = (await (await engine.get("/clips/presenters", headers=headers)).json())["presenters"]
    assert listed[0]["idle_video"].startswith("http://127.0.0.1:8700/clips/presenters/")


def test_the_idle_loops_are_kept_under_var_dir(tmp_path):
    assert EngineConfig.from_env({"VAR_DIR": str(tmp_path)}).idle_dir == str(tmp_path / "engine-idle")
    assert EngineConfig.from_env({}).idle_dir == ""
