"""Make aiortc peers on this machine find each other over 127.0.0.1.

aioice gathers host candidates from every interface *except* loopback
(`aioice.ice.get_host_addresses` drops 127.0.0.1). On a host whose only reachable interface is
loopback, or in tests that must never touch eth0, two peers then have no candidate pair that
works. `Connection.gather_candidates` looks the function up in the module at call time, so
replacing the module attribute is enough: every peer created afterwards offers 127.0.0.1 only.
Chromium needs `--allow-loopback-in-peer-connection` to accept such candidates.
"""

from __future__ import annotations

from aioice import ice

_original_get_host_addresses = ice.get_host_addresses


def _loopback_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    addresses = []
    if use_ipv4:
        addresses.append("127.0.0.1")
    return addresses


def use_loopback_host_candidates() -> None:
    """Gather host candidates on 127.0.0.1 only, for every ICE connection created from now on."""
    ice.get_host_addresses = _loopback_host_addresses


def use_interface_host_candidates() -> None:
    """Undo `use_loopback_host_candidates` (aioice's own behaviour: all interfaces but loopback)."""
    ice.get_host_addresses = _original_get_host_addresses


def loopback_host_candidates_in_use() -> bool:
    return ice.get_host_addresses is _loopback_host_addresses
