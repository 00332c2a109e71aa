"""A browser page on another origin calls the engine the way D-ID's own demo calls D-ID.

The engine alone (its parent and media process, started from the Procfile by launcher.Stack)
and two tiny pages on two other loopback ports: the one ENGINE_CORS_ORIGINS lists may `fetch()`
the engine with `Authorization` and a JSON `Content-Type` (a preflighted request); the other,
identical but for its port, is blocked by Chromium because the engine does not allow its origin.
Both pages are loopback, so nothing but CORS tells them apart.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from launcher import Stack
from launcher.backing import free_port
from launcher.page import chromium_installed
from launcher.stack import LOCAL_ENGINE_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

PAGE = b"<!doctype html><title>vendor-style client</title><p>calls the avatar API</p>"
# What a D-ID-style browser client does: Basic key + JSON body type, so Chromium preflights it.
CALL = """async ([url, key]) => {
  try {
    const response = await fetch(url + '/tts/voices', {
      headers: { Authorization: 'Basic ' + key, 'Content-Type': 'application/json' },
    });
    return { ok: true, status: response.status, body: await response.json() };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}"""


class Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, *args) -> None:
        pass


def serve_page(port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def pages() -> Iterator[tuple[str, str]]:
    allowed, other = serve_page(free_port()), serve_page(free_port())
    yield (f"http://127.0.0.1:{allowed.server_port}", f"http://127.0.0.1:{other.server_port}")
    for server in (allowed, other):
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def engine(pages, artifacts) -> Iterator[Stack]:
    if not chromium_installed():
        pytest.skip("Debian's chromium is not installed (`make browser` installs it)")
    allowed, _ = pages
    env = {"ENGINE_MODULES": "", "ENGINE_CORS_ORIGINS": allowed}  # D-ID streams alone
    with Stack(name="engine-cors", processes=("engine",), migrate=False, bootstrap=False,
               env=env, log_dir=artifacts / "engine-cors") as stack:
        yield stack


def key_of(stack: Stack) -> str:
    return stack.env.get("ENGINE_API_KEY", LOCAL_ENGINE_KEY)


def call_from(browser, page_url: str, stack: Stack) -> dict:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(page_url)
        return page.evaluate(CALL, [stack.engine_url, key_of(stack)])
    finally:
        context.close()


def test_a_page_on_an_allowed_origin_reads_the_engines_answer(engine, pages, browser):
    allowed, _ = pages
    result = call_from(browser, allowed, engine)
    assert result["ok"], result
    assert result["status"] == 200
    assert result["body"][0]["provider"] == "local"  # D-ID's voice list, as the engine serves it


def test_a_page_on_another_origin_is_blocked_by_the_browser(engine, pages, browser):
    _, other = pages
    result = call_from(browser, other, engine)
    assert not result["ok"], result
    assert "Failed to fetch" in result["error"]
    # Not an outage: the same call outside a browser (no CORS there) is answered.
    headers = {"Authorization": f"Basic {key_of(engine)}", "Origin": other}
    request = urllib.request.Request(f"{engine.engine_url}/tts/voices", headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert "Access-Control-Allow-Origin" not in response.headers
        assert json.load(response)[0]["provider"] == "local"
