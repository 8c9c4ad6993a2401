"""Which camera hosts vigil refuses to connect to: SSRF's favourite targets.

By default link-local addresses and the cloud metadata services are refused (a camera URL
is a request vigil makes on the user's behalf, from inside their network). An operator's
``server.camera_networks`` (CIDRs) replaces that: only addresses in those networks pass.
A host name can't be judged until it is resolved: known metadata names are refused at once,
and :func:`refused_resolution` judges what a name resolves to each time the input connects.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

REFUSED_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "169.254.0.0/16",  # IPv4 link-local: AWS, GCP, Azure, OpenStack metadata live here
        "fe80::/10",  # IPv6 link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "0.0.0.0/8",  # "this host": reaches local services on Linux
        "::/128",
    )
)
METADATA_NAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.azure.com",
    }
)


def parse_networks(values: Sequence[str]) -> list[Network]:
    """CIDRs as networks; raises ValueError naming a bad one."""
    return [ipaddress.ip_network(v, strict=False) for v in values]


def literal_address(host: str) -> Address | None:
    """The address a host literal names, as the resolver would read it: IPv6, dotted
    quad, and the shorthand forms (``2852039166``, ``169.254.43518``, ``0xa9fea9fe``) that
    getaddrinfo accepts and a string check would miss. None for a name."""
    host = host.strip("[]")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def refused_address(address: Address, allowed: Sequence[Network] = ()) -> bool:
    if allowed:
        return not any(address.version == n.version and address in n for n in allowed)
    return any(address.version == n.version and address in n for n in REFUSED_NETWORKS)


def refused_host(host: str, allowed: Sequence[Network] = ()) -> bool:
    """True if a camera URL's host is refused before any lookup (a literal or a known name)."""
    name = host.lower().rstrip(".")
    if name in METADATA_NAMES:
        return True
    address = literal_address(name)
    if address is None:
        return False  # a name: judged by what it resolves to, at connect time
    return refused_address(address, allowed)


def refused_resolution(host: str, allowed: Sequence[Network] = ()) -> str | None:
    """Resolve a camera's host name and return the first refused address it gives, if any
    (None too when it doesn't resolve: FFmpeg's own lookup then fails and says so)."""
    if literal_address(host) is not None:
        return None  # a literal was judged by refused_host
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return None
    for info in infos:
        address = literal_address(str(info[4][0]).split("%")[0])
        if address is not None and refused_address(address, allowed):
            return str(address)
    return None
