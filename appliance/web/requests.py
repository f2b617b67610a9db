"""What a request carries: paging, comma-separated lists, the access token; and finding what the
caller may see."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import TypeAlias, TypeVar

from litestar import Request
from litestar.di import NamedDependency

from appliance.domain.entities import User
from appliance.domain.errors import AppError, ErrorCode

__all__ = [
    "ACCESS_TOKEN_HEADER",
    "CSRF_FORM_FIELD",
    "MAX_PAGE",
    "CurrentUser",
    "access_token_of",
    "check_paging",
    "found",
    "source_address",
    "split_csv",
]

#: The most items one page of a list holds.
MAX_PAGE = 1000
#: The largest offset into a list: what a SQL integer holds (SQLite's, PostgreSQL's bigint).
MAX_OFFSET = 2**63 - 1
#: The header the Oz API reads the access token from (`Authorization: Bearer` works too).
ACCESS_TOKEN_HEADER = "X-Forensic-Access-Token"
#: The hidden field of a console form that carries its CSRF token.
CSRF_FORM_FIELD = "_csrf"

#: How a handler asks for the authenticated caller: `user: CurrentUser` (401 without a valid token).
CurrentUser: TypeAlias = NamedDependency[User]

T = TypeVar("T")


def check_paging(offset: int, limit: int) -> None:
    if not 0 <= offset <= MAX_OFFSET or not 1 <= limit <= MAX_PAGE:
        raise AppError(ErrorCode.INVALID_VALUE, f"offset must be within 0..{MAX_OFFSET} and limit within 1..{MAX_PAGE}")


def split_csv(value: str | None) -> list[str] | None:
    """`a, b,c` as `["a", "b", "c"]`; None for no value or only commas."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def access_token_of(request: Request) -> str | None:
    """The access token of `X-Forensic-Access-Token`, else of `Authorization: Bearer`; None without one."""
    token = request.headers.get(ACCESS_TOKEN_HEADER)
    if token:
        return token.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def source_address(request: Request) -> str:
    """Where the request came from, as login throttling and rate limits count it: the TCP peer, or
    what a proxy the server trusts said (uvicorn's `forwarded_allow_ips`, by default a proxy on
    127.0.0.1); an IPv6 address as its /64, which one subscriber usually holds whole; empty when
    unknown."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return host


def found(item: T | None, visible: Callable[[T], bool], what: str) -> T:
    """`item` if it exists and the caller may see it; otherwise NOT_EXIST (never 'forbidden',
    so callers cannot probe for other companies' ids)."""
    if item is None or not visible(item):
        raise AppError(ErrorCode.NOT_EXIST, f"{what} not found")
    return item
