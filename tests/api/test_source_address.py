"""What login throttling and rate limits count a request under: its peer's address, an IPv6 one as
its /64 (one subscriber's usual share, or an attacker's supply of addresses), an IPv4-mapped one as
the IPv4 address it is."""

from __future__ import annotations

import pytest
from litestar import Request

from appliance.web.requests import source_address


@pytest.mark.parametrize(
    ("peer", "counted_as"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::1", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("testclient", "testclient"),
    ],
)
def test_source_address(peer: str, counted_as: str) -> None:
    request: Request = Request({"type": "http", "client": (peer, 50000), "headers": [], "path": "/"})  # type: ignore[typeddict-item]
    assert source_address(request) == counted_as


def test_no_peer_is_counted_as_empty() -> None:
    request: Request = Request({"type": "http", "client": None, "headers": [], "path": "/"})  # type: ignore[typeddict-item]
    assert source_address(request) == ""
