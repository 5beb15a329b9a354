"""Where a webhook may go: never to the machine itself, the private network or a cloud's metadata.

Why: a journey's webhook URL is typed by a user of the dashboard or the API. Without a guard,
``http://169.254.169.254/latest/meta-data/`` hands the server's cloud credentials to whoever
reads the response log, and ``http://127.1:8000/v1/...`` reaches percorso's own admin API.
Every spelling counts: ``127.1``, ``0x7f.1``, ``2130706433``, ``0177.0.0.1`` are loopback to
the C resolver; ``::ffff:127.0.0.1`` is loopback over IPv6; ``localtest.me`` *resolves* to
127.0.0.1. So the guard (1) accepts only http(s), (2) reads the host the way the socket layer
will (``inet_aton`` for the legacy IPv4 spellings), (3) resolves names and checks **every**
address, (4) unwraps IPv4 embedded in IPv6 (mapped, compatible, 6to4, NAT64), and (5) returns
the checked address so the request is pinned to it (no second lookup an attacker's DNS could
answer differently). Redirects go through the same check (:mod:`percorso.activation.webhook`).

An allow-list (``[activation] webhook_allow = ["10.0.0.5", "192.168.1.0/24", "sms.local"]``)
lets an administrator reach an internal gateway on purpose.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from percorso.errors import InputError

Resolver = Callable[[str], list[str]]

#: Names that are the metadata service or the machine whatever DNS says.
_BLOCKED_NAMES = ("localhost", "metadata.google.internal", "metadata", "instance-data", "metadata.azure.com")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_EXTRA_BLOCKED = (ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT (Alibaba metadata: 100.100.100.200)
                  ipaddress.ip_network("fd00:ec2::/32"))  # AWS IPv6 metadata (fd00:ec2::254)


class TargetRefused(InputError):
    """A webhook target is local, private, link-local or metadata, and not allow-listed."""

    code = "webhook_target_refused"


@dataclass(frozen=True)
class Target:
    """A checked target: the URL as given, its host, and the address to connect to."""

    url: str
    scheme: str
    host: str
    port: int
    address: str


def system_resolver(host: str) -> list[str]:
    """Every address the system resolver gives for ``host`` (IPv4 and IPv6)."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused(f"webhook host {host!r} does not resolve ({exc})") from None
    return sorted({str(info[4][0]).split("%")[0] for info in infos})


def _legacy_ipv4(host: str) -> str | None:
    """``127.1``, ``0x7f.1``, ``2130706433``, ``0177.0.0.1``: what ``inet_aton`` makes of them."""
    if not host or any(c not in "0123456789abcdefxABCDEFX." for c in host) or not host[0].isdigit():
        return None
    try:
        return socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        return None


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # NAT64, IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    return None


def address_refused(address: str) -> str | None:
    """Why ``address`` is not a public unicast address (``None`` if it is one)."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            why = address_refused(str(inner))
            return f"IPv4 {inner} inside IPv6: {why}" if why else None
    for net in _EXTRA_BLOCKED:
        if ip.version == net.version and ip in net:
            return "cloud metadata / shared address space"
    for attr, why in (("is_loopback", "loopback"), ("is_link_local", "link-local (cloud metadata lives here)"),
                      ("is_unspecified", "unspecified (0.0.0.0 / ::, the machine itself)"),
                      ("is_private", "private network"), ("is_multicast", "multicast"), ("is_reserved", "reserved")):
        if getattr(ip, attr):
            return why
    if not ip.is_global:
        return "not a public address"
    return None


def _allowed(host: str, addresses: Iterable[str], allow: Iterable[str]) -> bool:
    allow = list(allow)
    if host.lower() in {a.lower() for a in allow}:
        return True
    nets = []
    for a in allow:
        try:
            nets.append(ipaddress.ip_network(a, strict=False))
        except ValueError:
            continue
    addrs = [ipaddress.ip_address(a) for a in addresses]
    return bool(addrs) and all(any(x.version == n.version and x in n for n in nets) for x in addrs)


def check_url(url: str, *, allow: Iterable[str] = (), resolver: Resolver = system_resolver) -> Target:
    """The checked :class:`Target` of ``url``, or :class:`TargetRefused` saying why not.

    Examples
    --------
    >>> check_url("http://0x7f.1/", resolver=lambda h: [])
    Traceback (most recent call last):
    percorso.activation.ssrf.TargetRefused: webhook target http://0x7f.1/ refused: 127.0.0.1 is loopback ...
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"webhook target {url!r} is not a URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(f"webhook target {url!r}: scheme {parts.scheme or '(none)'!r} refused; use http or https")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused(f"webhook target {url!r} has no host")
    port = port or (443 if parts.scheme == "https" else 80)
    allow = list(allow)

    literal = _legacy_ipv4(host)
    if literal is None:
        try:
            literal = str(ipaddress.ip_address(host.split("%")[0]))
        except ValueError:
            literal = None
    if literal is not None:
        addresses = [literal]
    else:
        name = host.lower()
        if (name in _BLOCKED_NAMES or name.endswith((".localhost", ".local", ".internal", ".localdomain"))) \
                and not _allowed(host, [], allow):
            raise TargetRefused(f"webhook target {url!r} refused: {host} names the machine or its metadata service "
                                "(allow-list it in [activation] webhook_allow to reach it on purpose)")
        addresses = resolver(host)
        if not addresses:
            raise TargetRefused(f"webhook host {host!r} does not resolve")
    if not _allowed(host, addresses, allow):
        for a in addresses:
            why = address_refused(a)
            if why:
                raise TargetRefused(
                    f"webhook target {url} refused: {a} is {why} (only public addresses, unless allow-listed in "
                    "[activation] webhook_allow)")
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=addresses[0])


__all__ = ["Target", "TargetRefused", "address_refused", "check_url", "system_resolver"]
