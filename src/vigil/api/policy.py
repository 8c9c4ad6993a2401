"""What the HTTP side trusts: the Host names it answers, its proxies, and whether it is HTTPS.

Nothing that a client sends is believed unless this says so: ``X-Forwarded-For`` and
``X-Forwarded-Proto`` count only from an address in ``server.trusted_proxies``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import psutil

from vigil.config import ServerConfig
from vigil.sources.network import Network, parse_networks


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    allowed_hosts: frozenset[str] | None = None  # None: any Host (an app built in-process)
    trusted_proxies: tuple[Network, ...] = ()
    tls: bool = False

    @classmethod
    def of(cls, server: ServerConfig) -> HttpPolicy:
        hosts = server.allowed_hosts
        allowed = default_hosts(server.host) if hosts is None else {h.lower() for h in hosts}
        return cls(
            frozenset(allowed),
            tuple(parse_networks(server.trusted_proxies)),
            server.tls.cert is not None,
        )

    def host_allowed(self, host_header: str) -> bool:
        if self.allowed_hosts is None:
            return True
        return host_name(host_header) in self.allowed_hosts or "*" in self.allowed_hosts

    def trusted(self, peer: str | None) -> bool:
        if not self.trusted_proxies or peer is None:
            return False
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address.version == n.version and address in n for n in self.trusted_proxies)

    def client_address(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The client's address: the peer's, or (behind a trusted proxy) the rightmost
        ``X-Forwarded-For`` entry that isn't a trusted proxy itself."""
        address = peer or "unknown"
        if not self.trusted(peer):
            return address
        hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self.trusted(hop):
                return hop[:64]
        return address

    def https(self, scheme: str, peer: str | None, headers: Mapping[str, str]) -> bool:
        if scheme == "https" or self.tls:
            return True
        return self.trusted(peer) and headers.get("x-forwarded-proto", "") == "https"


def host_name(host_header: str) -> str:
    """``Host`` without its port, lower case: ``[::1]:8080`` -> ``[::1]``."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def default_hosts(bound: str) -> set[str]:
    """The bound address, the loopback names, the machine's name, and with a wildcard bind
    every local address."""
    names = {"localhost", "127.0.0.1", "[::1]", socket.gethostname().lower()}
    names.update(_bracketed([bound]))
    if bound in ("0.0.0.0", "::", ""):
        ip = (socket.AF_INET, socket.AF_INET6)
        nics = psutil.net_if_addrs().values()
        names.update(_bracketed(a.address.split("%")[0] for n in nics for a in n if a.family in ip))
    return names


def _bracketed(addresses: Iterable[str]) -> set[str]:
    out = set()
    for address in addresses:
        out.add(f"[{address.lower()}]" if ":" in address else address.lower())
    return out
