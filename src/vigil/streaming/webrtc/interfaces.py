"""Which local addresses WebRTC media binds its UDP sockets on.

aioice gathers a host candidate on every address of every interface but loopback, so a
server listening on 127.0.0.1 would still open UDP ports on the LAN, the VPN and the docker
bridge. vigil binds where its HTTP server listens instead: ``server.host``'s address, or
every address when that is a wildcard (``0.0.0.0`` / ``::``), or what
``server.webrtc_interfaces`` names (interface names such as ``eth0``, or addresses).

The addresses are handed to aioice per connection (:func:`restrict_candidates`), reaching
into its ``Connection`` as :mod:`~vigil.streaming.webrtc.direct` does: the versions are
pinned in pyproject.toml.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Sequence
from typing import Any

import ifaddr
from aiortc import RTCPeerConnection

_log = logging.getLogger(__name__)

WILDCARDS = frozenset({"0.0.0.0", "::", ""})


def _usable(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return not ip.is_link_local  # fe80:: needs a scope id no browser can use


def interface_addresses() -> dict[str, list[str]]:
    """Every interface's name with its addresses (IPv4 first, link-local IPv6 left out)."""
    found: dict[str, list[str]] = {}
    for adapter in ifaddr.get_adapters():
        v4 = [ip.ip for ip in adapter.ips if isinstance(ip.ip, str)]
        v6 = [ip.ip[0] for ip in adapter.ips if not isinstance(ip.ip, str)]
        found[adapter.nice_name] = [a for a in v4 + v6 if _usable(a)]
    return found


def _host_addresses(host: str) -> list[str]:
    """The addresses a listening host names: a literal as it is, a name as resolved."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError:
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def media_addresses(host: str, interfaces: Sequence[str] | None = None) -> list[str] | None:
    """Where WebRTC may bind: the addresses of `interfaces` (names or addresses) if given,
    else `host`'s. None means every interface's (a wildcard host and no `interfaces`)."""
    if interfaces is None:
        if host in WILDCARDS:
            return None
        return _host_addresses(host)
    named = interface_addresses()
    addresses: list[str] = []
    for entry in interfaces:
        addresses += named.get(entry, []) if entry in named else _host_addresses(entry)
    return list(dict.fromkeys(addresses))


def restrict_candidates(pc: RTCPeerConnection, addresses: Sequence[str]) -> None:
    """Make `pc` gather host candidates on `addresses` only. Call it after the remote
    description is set (its transports exist) and before the local one (which gathers)."""
    chosen = list(addresses)
    if not chosen:
        _log.warning("WebRTC: no address to bind on (server.webrtc_interfaces): no media")
    for transceiver in pc.getTransceivers():
        dtls = transceiver.sender.transport
        connection: Any = dtls.transport.iceGatherer._connection  # aioice's Connection
        gather = connection.get_component_candidates

        async def get_component_candidates(
            component: int, addresses: list[str], timeout: int = 5, _gather: Any = gather
        ) -> Any:
            return await _gather(component=component, addresses=chosen, timeout=timeout)

        connection.get_component_candidates = get_component_candidates
