"""The engine locked down: no default key off loopback, a fetch allow-list with no redirects,
no private addresses unless configured, a pixel cap before decoding, and generic errors."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from engine.config import LOCAL_ENGINE_KEY, EngineConfig, UnsafeConfig
from engine.face import ImageTooLarge, decode_image
from engine.fetching import SourceError, SourceReader, checked_address, is_public_address

ROOT = Path(__file__).resolve().parents[2]


# -- the default key -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "engine"])
def test_the_default_key_is_refused_off_loopback(host):
    with pytest.raises(UnsafeConfig, match="ENGINE_API_KEY"):
        EngineConfig(host=host, api_key=LOCAL_ENGINE_KEY).check_safe()
    EngineConfig(host=host, api_key="a-real-secret").check_safe()


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_the_default_key_is_fine_on_loopback(host):
    EngineConfig(host=host, api_key=LOCAL_ENGINE_KEY).check_safe()


def test_the_engine_program_will_not_start_off_loopback_with_the_default_key():
    result = subprocess.run(
        [sys.executable, "-m", "engine"],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "ENGINE_HOST": "0.0.0.0",
            "ENGINE_PORT": "18799",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "default key" in result.stderr


# -- what may be fetched ---------------------------------------------------------------------------


def test_the_allow_list_defaults_to_the_products_own_host():
    config = EngineConfig.from_env({"PUBLIC_BASE_URL": "https://persona.example.org/"})
    assert config.may_fetch("persona.example.org")
    assert not config.may_fetch("example.com")
    assert not config.may_fetch("169.254.169.254")
    assert EngineConfig.from_env({}).fetch_hosts == {"127.0.0.1"}  # the product's dev address
    assert EngineConfig.from_env({"ENGINE_FETCH_HOSTS": "*"}).may_fetch("anything.example")


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700::6810:85e5", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("224.0.0.1", False),
    ],
)
def test_public_addresses(address, public):
    assert is_public_address(address) is public


def test_a_host_with_any_private_address_is_refused_unless_configured():
    config = EngineConfig(fetch_hosts=frozenset({"*"}), fetch_private_hosts=frozenset())
    with pytest.raises(SourceError, match="private or local"):
        checked_address(config, "sneaky.example", ["93.184.215.14", "10.0.0.5"], "source_url")
    assert checked_address(config, "ok.example", ["93.184.215.14"], "source_url")
    allowed = EngineConfig(fetch_private_hosts=frozenset({"web"}))
    assert checked_address(allowed, "web", ["172.18.0.4"], "source_url") == "172.18.0.4"


@pytest.fixture
async def site():
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/face.jpg")

    async def face(request: web.Request) -> web.Response:
        return web.Response(body=b"JPEG", headers={"X-Host-Seen": request.host})

    app = web.Application()
    app.router.add_get("/moved.jpg", redirect)
    app.router.add_get("/face.jpg", face)
    async with TestServer(app, host="127.0.0.1") as server:
        yield server


async def read(config: EngineConfig, url: str) -> bytes:
    async with SourceReader.new_client(config) as client:
        return await SourceReader(config, client).read(url, what="source_url", max_bytes=1000)


async def test_redirects_are_not_followed(site):
    config = EngineConfig(fetch_hosts=frozenset({"127.0.0.1"}))
    assert await read(config, str(site.make_url("/face.jpg"))) == b"JPEG"
    with pytest.raises(SourceError, match="redirect"):
        await read(config, str(site.make_url("/moved.jpg")))


async def test_loopback_is_refused_when_not_configured(site):
    config = EngineConfig(fetch_hosts=frozenset({"*"}), fetch_private_hosts=frozenset())
    for host in ("127.0.0.1", "localhost", "[::ffff:127.0.0.1]"):
        url = str(site.make_url("/face.jpg")).replace("127.0.0.1", host)
        with pytest.raises(SourceError, match="private or local"):
            await read(config, url)


async def test_the_fetch_goes_to_the_checked_address_under_the_original_host_name(site):
    config = EngineConfig(
        fetch_hosts=frozenset({"localhost"}), fetch_private_hosts=frozenset({"localhost"})
    )
    url = str(site.make_url("/face.jpg")).replace("127.0.0.1", "localhost")
    async with SourceReader.new_client(config) as client:
        request_host = []

        async def spy(request: httpx.Request) -> None:
            request_host.append((request.url.host, request.headers["Host"]))

        client.event_hooks["request"].append(spy)
        assert await SourceReader(config, client).read(url, what="source_url", max_bytes=100)
    ((connected, host_header),) = request_host
    assert connected in ("127.0.0.1", "::1")  # pinned to the address that was checked
    assert host_header.startswith("localhost:")


async def test_fetch_errors_do_not_name_exceptions_or_network_details():
    config = EngineConfig(fetch_hosts=frozenset({"127.0.0.1"}))
    with pytest.raises(SourceError) as failed:
        await read(config, "http://127.0.0.1:9/face.jpg")  # the discard port: nobody listens
    message = str(failed.value)
    assert message == "source_url could not be downloaded"
    for leak in ("Error", "Errno", "refused", "127.0.0.1", ":9"):
        assert leak not in message


# -- decoding ----------------------------------------------------------------------------------------


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_an_image_over_the_pixel_cap_is_refused_before_decoding():
    with pytest.raises(ImageTooLarge, match="pixels"):
        decode_image(png_declaring(20000, 20000))
    with pytest.raises(ImageTooLarge):
        decode_image(png_declaring(200, 200), max_pixels=100 * 100)
