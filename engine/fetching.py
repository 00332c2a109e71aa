"""Reading a stream's `source_url` or a talk's `audio_url`, without becoming a way into the network.

D-ID fetches these URLs itself (https://docs.d-id.com/reference/createstream), so the engine must
too; but an engine that fetches any URL can be aimed at the machine's or the network's internal
services. So:

- `/media/...` URLs of the product's own host are read from the media folder, no HTTP at all;
- other URLs are fetched only from hosts in the allow-list (default: the product's own host,
  the host of PUBLIC_BASE_URL), over http(s), with no redirects followed;
- the host is resolved once, every address it resolves to is checked (loopback, private,
  link-local, reserved... are refused unless the host is configured to allow them), and the
  connection goes to the checked address, so a second DNS answer cannot differ (rebinding);
- errors say what was wrong in words, never an exception type or a network detail (which
  would make the engine a port scanner); the detail goes to the log.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from .config import EngineConfig

log = logging.getLogger(__name__)


class SourceError(ValueError):
    """A URL the engine will not or could not read; the message is safe to show the client."""


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as its IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (the event loop's resolver runs in a thread)."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        pass
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return list(dict.fromkeys(info[4][0] for info in infos))


def checked_address(config: EngineConfig, host: str, addresses: list[str], what: str) -> str:
    """The address to connect to, if every address of the host may be used; else SourceError."""
    if not addresses:
        raise SourceError(f"{what} host could not be resolved")
    if not config.may_fetch_private(host) and not all(map(is_public_address, addresses)):
        log.warning("refused %s host %s: it resolves to %s", what, host, addresses)
        raise SourceError(
            f"{what} host resolves to a private or local address, which is not allowed "
            "(ENGINE_FETCH_PRIVATE_HOSTS)"
        )
    return addresses[0]


class SourceReader:
    """Reads source_url / audio_url: from the media root for `/media/...`, else over http(s)."""

    def __init__(self, config: EngineConfig, client: httpx.AsyncClient) -> None:
        self.config = config
        self.client = client

    @staticmethod
    def new_client(config: EngineConfig) -> httpx.AsyncClient:
        # No redirects: a redirect would lead the fetch to a host nobody checked.
        return httpx.AsyncClient(
            timeout=httpx.Timeout(config.fetch_timeout), follow_redirects=False, trust_env=False
        )

    async def read(self, url: str, *, what: str, max_bytes: int) -> bytes:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port out of range
        except ValueError:
            raise SourceError(f"{what} is not a valid URL") from None
        local = self._local_path(parts)
        if local is not None:
            try:
                data = await asyncio.to_thread(_read_capped, local, max_bytes)
            except FileNotFoundError:
                if parts.scheme:
                    return await self._fetch(parts, what, max_bytes)
                raise SourceError(f"{what} not found in the media folder") from None
            except OSError:
                log.warning("could not read %s %s", what, local, exc_info=True)
                raise SourceError(f"{what} could not be read from the media folder") from None
            if data is None:
                raise SourceError(f"{what} is larger than {max_bytes} bytes")
            return data
        if parts.scheme in ("http", "https") and parts.hostname:
            return await self._fetch(parts, what, max_bytes)
        raise SourceError(f"{what} must be an http(s) URL or a {self.config.media_url}... path")

    def _local_path(self, parts) -> Path | None:
        root, prefix = self.config.media_root, self.config.media_url
        if root is None or not parts.path.startswith(prefix):
            return None
        if parts.scheme and (parts.hostname or "").lower() not in self.config.media_hosts:
            return None
        if parts.scheme not in ("", "http", "https"):
            return None
        root = root.resolve()
        path = (root / unquote(parts.path[len(prefix) :])).resolve()
        if not path.is_relative_to(root):
            raise SourceError("the media path leaves the media folder")
        return path

    async def _fetch(self, parts, what: str, max_bytes: int) -> bytes:
        host = parts.hostname.lower()
        if not self.config.may_fetch(host):
            raise SourceError(f"{what} host {host!r} is not allowed (ENGINE_FETCH_HOSTS)")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            addresses = await resolve(host, port)
        except OSError:
            log.info("could not resolve %s host %s", what, host, exc_info=True)
            raise SourceError(f"{what} host could not be resolved") from None
        address = checked_address(self.config, host, addresses, what)
        literal = f"[{address}]" if ":" in address else address
        pinned = urlunsplit((parts.scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        headers = {"Host": parts.netloc.rpartition("@")[2]}
        extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
        chunks, size = [], 0
        try:
            request = self.client.build_request(
                "GET", pinned, headers=headers, extensions=extensions
            )
            response = await self.client.send(request, stream=True)
            try:
                if response.is_redirect:
                    raise SourceError(f"{what} answered with a redirect, which is not followed")
                if response.status_code != 200:
                    raise SourceError(f"{what} answered HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise SourceError(f"{what} is larger than {max_bytes} bytes")
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > max_bytes:
                        raise SourceError(f"{what} is larger than {max_bytes} bytes")
                    chunks.append(chunk)
            finally:
                await response.aclose()
        except httpx.HTTPError:
            log.info("could not download %s from %s", what, host, exc_info=True)
            raise SourceError(f"{what} could not be downloaded") from None
        return b"".join(chunks)


def _read_capped(path: Path, max_bytes: int) -> bytes | None:
    with path.open("rb") as handle:
        data = handle.read(max_bytes + 1)
    return None if len(data) > max_bytes else data
