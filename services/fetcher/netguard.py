"""Which addresses the fetcher may connect to: a guard against server-side request forgery.

A feed URL comes from a config file, but its redirects come from whoever runs the feed's
server; without a guard, a feed could make the fetcher read cloud metadata
(169.254.169.254), the broker or any service on the private network. Host names are
resolved and every address they resolve to is checked, on the first request and on
every redirect hop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

__all__ = ["AddressGuard", "BlockedAddress", "LookupFailed", "is_public_address"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(ValueError):
    """A URL the fetcher refuses to fetch; the message says why."""


class LookupFailed(ValueError):
    """The URL's host name could not be resolved."""


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address; False for loopback, private,
    link-local, shared, multicast, reserved and unspecified ones."""
    if isinstance(address, ipaddress.IPv6Address):
        # ::ffff:10.0.0.1 and 64:ff9b::/96 reach IPv4 hosts: judge the IPv4 address.
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address in ipaddress.IPv6Network("64:ff9b::/96"):
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not address.is_multicast


@dataclass(frozen=True)
class AddressGuard:
    """Refuses URLs that are not http(s) or that reach a non-public address.

    ``allow_private`` turns the address check off (local demos and tests);
    ``allowed_networks`` lets chosen networks through, e.g. an intranet feed server.
    """

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = field(default_factory=tuple)

    @classmethod
    def from_cidrs(cls, allow_private: bool, cidrs: Iterable[str]) -> AddressGuard:
        return cls(allow_private, tuple(ipaddress.ip_network(c, strict=False) for c in cidrs))

    def permits(self, address: IPAddress) -> bool:
        return (self.allow_private or is_public_address(address)
                or any(address in net for net in self.allowed_networks))

    def check_url(self, url: str) -> tuple[str, int]:
        """Host and port of an http(s) URL; BlockedAddress for another scheme, no host, or
        a literal address the guard does not permit. Needs no DNS."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise BlockedAddress(f"only http and https URLs are fetched, not {url!r}")
        try:
            host, port = parts.hostname, parts.port
        except ValueError as exc:
            raise BlockedAddress(f"unusable URL {url!r}: {exc}") from None
        if not host:
            raise BlockedAddress(f"URL without a host: {url!r}")
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return host, port
        if not self.permits(literal):
            raise BlockedAddress(f"{url!r} points to a non-public address ({literal}); "
                                 "set FETCHER_ALLOW_PRIVATE_NETWORKS or "
                                 "FETCHER_ALLOWED_NETWORKS to allow it")
        return host, port

    async def check(self, url: str) -> None:
        """check_url, then every address the host resolves to."""
        host, port = self.check_url(url)
        if self.allow_private:
            return
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise LookupFailed(f"cannot resolve {host!r}: {exc.strerror}") from None
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if not self.permits(address):
                raise BlockedAddress(
                    f"{host!r} resolves to a non-public address ({address}); set "
                    "FETCHER_ALLOW_PRIVATE_NETWORKS or FETCHER_ALLOWED_NETWORKS to allow it")
