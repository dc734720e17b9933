"""Which hosts metadata may be fetched from: no request where a tenant file should not reach.

Tenant files are untrusted, yet a ``metadata_url`` is requested by the machine that builds
the sites, inside its network. A host is refused when its name is a loopback or
private-use name, or when it is, or resolves to, any address that is not on the public
internet (loopback, private, link-local such as the cloud metadata service
169.254.169.254, unspecified, multicast, reserved). IPv4 addresses carried inside IPv6
(IPv4-mapped, 6to4, NAT64) are judged as the IPv4 address they reach. Only the operator
can allow such hosts (``--allow-private-hosts`` or ``TENANTDOCS_ALLOW_PRIVATE_HOSTS=1``);
``TENANTDOCS_ALLOW_LOOPBACK_HTTP=1`` (tests) allows loopback ones. Pure: the caller resolves.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

LOOPBACK_ENV = "TENANTDOCS_ALLOW_LOOPBACK_HTTP"
PRIVATE_ENV = "TENANTDOCS_ALLOW_PRIVATE_HOSTS"
ALLOW_HINT = "allow such hosts with --allow-private-hosts or TENANTDOCS_ALLOW_PRIVATE_HOSTS=1"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOOPBACK_NAMES = ("localhost",)
_PRIVATE_NAME_SUFFIXES = ("local", "internal", "home.arpa", "lan", "intranet", "corp")


class AddressKind(StrEnum):
    """Where an address leads, as far as refusing requests goes."""

    PUBLIC = "public"
    LOOPBACK = "loopback"
    PRIVATE = "private"
    LINK_LOCAL = "link-local"
    UNSPECIFIED = "unspecified"
    MULTICAST = "multicast"
    RESERVED = "reserved"


def classify(address: IPAddress) -> AddressKind:
    """The kind of ``address``; embedded IPv4 addresses are judged as themselves."""
    address = _embedded_ipv4(address) or address
    if address.is_loopback:
        return AddressKind.LOOPBACK
    if address.is_link_local:
        return AddressKind.LINK_LOCAL
    if address.is_unspecified:
        return AddressKind.UNSPECIFIED
    if address.is_multicast:
        return AddressKind.MULTICAST
    if address.is_private:
        return AddressKind.PRIVATE
    if not address.is_global:
        return AddressKind.RESERVED  # shared (100.64/10), documentation, future use…
    return AddressKind.PUBLIC


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def name_kind(host: str) -> AddressKind:
    """The kind a host name announces by itself: an address literal, ``localhost``, a
    private-use suffix (``.local``, ``.internal``…), else PUBLIC (resolution decides)."""
    name = host.strip("[]").rstrip(".").lower()
    try:
        return classify(ipaddress.ip_address(name.split("%", 1)[0]))
    except ValueError:
        pass
    if any(name == n or name.endswith(f".{n}") for n in _LOOPBACK_NAMES):
        return AddressKind.LOOPBACK
    if any(name == s or name.endswith(f".{s}") for s in _PRIVATE_NAME_SUFFIXES):
        return AddressKind.PRIVATE
    return AddressKind.PUBLIC


def _is_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Which non-public hosts the operator allows for this run."""

    allow_loopback: bool = False
    """Loopback hosts (``TENANTDOCS_ALLOW_LOOPBACK_HTTP=1``, for tests)."""
    allow_private: bool = False
    """Every non-public host (``--allow-private-hosts``, ``TENANTDOCS_ALLOW_PRIVATE_HOSTS=1``)."""

    @classmethod
    def from_environment(cls, allow_private: bool = False) -> HostPolicy:
        """The policy of this process: the option, else the environment variables."""
        return cls(
            allow_loopback=os.environ.get(LOOPBACK_ENV) == "1",
            allow_private=allow_private or os.environ.get(PRIVATE_ENV) == "1",
        )

    def allows(self, kind: AddressKind) -> bool:
        """Whether a host of this kind may be requested."""
        if kind is AddressKind.PUBLIC or self.allow_private:
            return True
        return kind is AddressKind.LOOPBACK and self.allow_loopback

    def name_refusal(self, host: str) -> str | None:
        """Why ``host`` is refused by its name alone, or None."""
        kind = name_kind(host)
        if self.allows(kind):
            return None
        what = "address" if _is_literal(host) else "host name"
        return f"refusing '{host}': a {kind.value} {what} ({ALLOW_HINT})"

    def address_refusal(self, host: str, addresses: Sequence[IPAddress]) -> str | None:
        """Why ``host`` is refused for one of the addresses it resolves to, or None."""
        for address in addresses:
            kind = classify(address)
            if not self.allows(kind):
                return f"refusing '{host}': it resolves to {address}, a {kind.value} address ({ALLOW_HINT})"
        return None
