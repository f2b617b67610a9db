"""Where outbound webhooks may go: the rule, on an address, a port and the URL's host name
(docs/configuration.md, "Webhook targets"). Pure: resolving names and connecting are the core's.

In this order, a connection to `address:port` for a URL naming `host` is:
1. refused when the port is one of the appliance's own services and the address is this host's
   (loopback, unspecified, or an address of the host or of a service the settings name);
2. allowed when the address is inside a CIDR block of `webhooks.allowed_targets`;
3. refused when `allowed_targets` is set and names neither that block nor the host;
4. refused when the address is inside a block of `webhooks.refused_targets`;
5. allowed otherwise.
A host name in `allowed_targets` lets a URL name it, but what it resolves to must still pass 4.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network

__all__ = [
    "DEFAULT_REFUSED_TARGETS",
    "Address",
    "Network",
    "TargetPolicy",
    "parse_address",
    "parse_network",
    "parse_target",
]

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

#: Loopback, unspecified, link-local (the cloud metadata address 169.254.169.254 among them) and multicast.
DEFAULT_REFUSED_TARGETS: tuple[str, ...] = (
    "127.0.0.0/8",
    "::1/128",
    "0.0.0.0/8",
    "::/128",
    "169.254.0.0/16",
    "fe80::/10",
    "224.0.0.0/4",
    "ff00::/8",
)

#: A host name, or `*.` and a domain (any name under it): letters, digits, hyphens, dots.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?:\*\.)?{_LABEL}(?:\.{_LABEL})*")


def parse_address(text: str) -> Address:
    """An IP address; an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`) as the IPv4 address it is."""
    address = ip_address(text)
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_network(entry: str) -> Network:
    """A CIDR block (`10.20.0.0/16`; a bare address is a block of one); ValueError naming the entry."""
    try:
        return ip_network(entry.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{entry!r} is not a CIDR block (e.g. 10.20.0.0/16 or 127.0.0.1/32)") from None


def parse_target(entry: str) -> Network | str:
    """An entry of `allowed_targets`: a CIDR block, or a host name in lower case (`*.` for a domain)."""
    try:
        return parse_network(entry)
    except ValueError:
        name = entry.strip().lower().rstrip(".")
        if not _HOST_NAME.fullmatch(name):
            raise ValueError(
                f"{entry!r} is neither a CIDR block (10.20.0.0/16) nor a host name (hooks.example, *.example)"
            ) from None
        return name


def _name_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True, slots=True)
class TargetPolicy:
    """The rule of the module's docstring, on parsed settings."""

    allowed_networks: tuple[Network, ...] = ()
    allowed_hosts: tuple[str, ...] = ()
    refused_networks: tuple[Network, ...] = ()
    #: The ports of the appliance's own services (the API, Redis, PostgreSQL).
    own_ports: frozenset[int] = frozenset()
    #: This host's addresses and those of the services the settings name (loopback counts without being listed).
    own_addresses: frozenset[Address] = frozenset()

    @classmethod
    def from_entries(
        cls,
        allowed: Iterable[str],
        refused: Iterable[str],
        own_ports: Iterable[int] = (),
        own_addresses: Iterable[Address] = (),
    ) -> TargetPolicy:
        parsed = [parse_target(entry) for entry in allowed]
        return cls(
            allowed_networks=tuple(p for p in parsed if not isinstance(p, str)),
            allowed_hosts=tuple(p for p in parsed if isinstance(p, str)),
            refused_networks=tuple(parse_network(entry) for entry in refused),
            own_ports=frozenset(own_ports),
            own_addresses=frozenset(own_addresses),
        )

    @property
    def restricted(self) -> bool:
        """Whether `allowed_targets` is set: then webhooks go only where it says."""
        return bool(self.allowed_networks or self.allowed_hosts)

    def refusal(self, host: str, address: Address, port: int) -> str | None:
        """Why a webhook for a URL naming `host` may not connect to `address:port`; None when it may."""
        address = parse_address(str(address))
        if port in self.own_ports and (address.is_loopback or address.is_unspecified or address in self.own_addresses):
            return f"{address} port {port} is one of the appliance's own services"
        if any(address in network for network in self.allowed_networks):
            return None
        if self.restricted and not any(_name_matches(p, host.lower().rstrip(".")) for p in self.allowed_hosts):
            return f"{host} ({address}) is not in webhooks.allowed_targets"
        for network in self.refused_networks:
            if address in network:
                return f"{address} is in {network}, which webhooks.refused_targets refuses"
        return None
