"""The rule of where webhooks may go, on addresses, ports and names (domain/targets.py)."""

from __future__ import annotations

import pytest

from appliance.domain.targets import DEFAULT_REFUSED_TARGETS, TargetPolicy, parse_address, parse_target

OWN_PORTS = (8080, 6379, 5432)


def _policy(*allowed: str) -> TargetPolicy:
    return TargetPolicy.from_entries(
        allowed, DEFAULT_REFUSED_TARGETS, own_ports=OWN_PORTS, own_addresses=[parse_address("10.0.0.5")]
    )


@pytest.mark.parametrize(
    ("allowed", "host", "address", "port", "refused_because"),
    [
        ((), "hooks.bank.example", "10.20.30.40", 443, None),  # a private receiver, by default
        ((), "hooks.bank.example", "203.0.113.9", 443, None),
        ((), "127.0.0.1", "127.0.0.1", 9000, "refused_targets"),
        ((), "localhost", "::1", 9000, "refused_targets"),
        ((), "x", "::ffff:127.0.0.1", 9000, "refused_targets"),  # IPv4-mapped: the IPv4 address it is
        ((), "169.254.169.254", "169.254.169.254", 80, "refused_targets"),
        ((), "x", "fe80::1", 80, "refused_targets"),
        ((), "x", "0.0.0.0", 80, "refused_targets"),
        ((), "x", "224.0.0.1", 80, "refused_targets"),
        # an allowed block wins over refused_targets (a receiver on this host)...
        (("127.0.0.1/32",), "127.0.0.1", "127.0.0.1", 9000, None),
        # ...but not over the appliance's own services, on loopback or on their hosts
        (("127.0.0.1/32",), "127.0.0.1", "127.0.0.1", 6379, "own services"),
        (("127.0.0.0/8",), "x", "127.0.0.2", 8080, "own services"),
        (("10.0.0.0/8",), "db", "10.0.0.5", 5432, "own services"),
        ((), "x", "0.0.0.0", 8080, "own services"),
        # another host's port 8080 is no service of ours
        ((), "other", "10.20.30.40", 8080, None),
        # allowed_targets set: nowhere else
        (("127.0.0.1/32",), "hooks.bank.example", "10.20.30.40", 443, "allowed_targets"),
        (("hooks.bank.example",), "hooks.bank.example", "10.20.30.40", 443, None),
        (("hooks.bank.example",), "HOOKS.bank.example.", "10.20.30.40", 443, None),
        (("hooks.bank.example",), "evil.example", "10.20.30.40", 443, "allowed_targets"),
        (("*.bank.example",), "a.b.bank.example", "10.20.30.40", 443, None),
        (("*.bank.example",), "bank.example.evil", "10.20.30.40", 443, "allowed_targets"),
        # a name allowed, resolving to a refused address: still refused
        (("hooks.bank.example",), "hooks.bank.example", "127.0.0.1", 9000, "refused_targets"),
        (("hooks.bank.example", "127.0.0.1/32"), "hooks.bank.example", "127.0.0.1", 9000, None),
    ],
)
def test_the_rule(allowed: tuple[str, ...], host: str, address: str, port: int, refused_because: str | None) -> None:
    reason = _policy(*allowed).refusal(host, parse_address(address), port)
    if refused_because is None:
        assert reason is None
    else:
        assert reason is not None and refused_because in reason, reason


@pytest.mark.parametrize("entry", ["hooks example", "http://hooks.example/", "10.0.0.0/33", "*", "a..b", ""])
def test_an_entry_that_is_neither_a_block_nor_a_name_is_refused(entry: str) -> None:
    with pytest.raises(ValueError, match="neither a CIDR block"):
        parse_target(entry)
