"""Which network addresses the service may connect to on a remote party's behalf (no SSRF).

Deliveries (webhooks) go only to global unicast addresses. An IPv6 address can carry an IPv4 one
inside it and reach it through a translator or tunnel: IPv4-mapped (``::ffff:a.b.c.d``),
IPv4-compatible (``::a.b.c.d``), NAT64 (``64:ff9b::/96``, ``64:ff9b:1::/48``), 6to4 (``2002::/16``) and
Teredo (``2001::/32``). Each is judged by the IPv4 address it leads to, so ``64:ff9b::7f00:1`` is
loopback. Site-local (``fec0::/10``, deprecated but still routed by some stacks) is never global.
"""

from __future__ import annotations

import ipaddress

_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to, by the transition mechanism its prefix names."""
    low32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    found: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        found.append(ip.ipv4_mapped)
    if ip in _IPV4_COMPATIBLE or any(ip in net for net in _NAT64):
        found.append(low32)
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found.extend(ip.teredo)
    return found


def is_forbidden(address: str) -> bool:
    """Whether ``address`` (an IP literal, optionally with a ``%zone``) is anything but global unicast.

    Raises ValueError when ``address`` is not an IP address.
    """
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if not ip.is_global or ip.is_multicast:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.is_site_local:
            return True
        return any(not v4.is_global or v4.is_multicast for v4 in _embedded_ipv4(ip))
    return False
