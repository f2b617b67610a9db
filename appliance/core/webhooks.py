"""Outbound webhooks: where they may go, checked when a URL is set and again when a delivery is sent,
and the POST itself, made to the very address that was checked (docs/api.md, "Webhooks").

The rule is `domain/targets.py`'s, on the settings `webhooks.allowed_targets` and
`webhooks.refused_targets` and the ports of the appliance's own services. A URL is checked:
- when it is set (a folder's `resolution_endpoint`, a company's `webhook_url`): a refused target
  is WEBHOOK_TARGET_REFUSED; a name that does not resolve yet is accepted;
- when a delivery is sent: the host is resolved, every address it resolves to must pass, and the
  connection goes to the address checked (never resolved again, so a name that resolves elsewhere
  between the check and the connection, DNS rebinding, reaches nothing). A refused delivery is
  final: it is not retried. Redirects are never followed.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.targets import Address, TargetPolicy, parse_address
from appliance.ops.settings import Settings
from appliance.store.urls import postgres_hosts

__all__ = ["Resolve", "SendOutcome", "Sent", "WebhookTargets", "resolve_host"]

#: A host name and port to the addresses it resolves to (as text); OSError when it does not resolve.
Resolve = Callable[[str, int], list[str]]

_DEFAULT_PORTS = {"http": 80, "https": 443}
_WILDCARD_HOSTS = ("", "0.0.0.0", "::")
_TRANSPORT_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


def resolve_host(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, in the resolver's order, each once."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class SendOutcome(StrEnum):
    DELIVERED = "delivered"
    #: The receiver answered with an error, or could not be reached: tried again later.
    FAILED = "failed"
    #: The target is one webhooks may not go to: never tried again.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Sent:
    outcome: SendOutcome
    status_code: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class _Target:
    scheme: str
    host: str
    port: int


def _target(url: str) -> _Target:
    """The scheme, host and port of an absolute http(s) URL; INVALID_VALUE for anything else."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise AppError(ErrorCode.INVALID_VALUE, f"a webhook URL must be an absolute http(s) URL, not {url!r}")
    return _Target(parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme])


class _PinnedBackend(httpcore.NetworkBackend):
    """Connects to one address whatever host the request names (which still goes in the Host header
    and TLS's server name, so a certificate is checked against the name)."""

    def __init__(self, address: str) -> None:
        self._address = address
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        return self._inner.connect_tcp(self._address, port, timeout, local_address, socket_options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("webhooks go over TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class WebhookTargets:
    """The target rule of one appliance, from its settings; `resolve` is replaced by tests only (to
    make a name resolve elsewhere at send time than when it was set)."""

    def __init__(self, settings: Settings, resolve: Resolve = resolve_host) -> None:
        self._resolve = resolve
        ports, hosts = _own_services(settings)
        self.policy = TargetPolicy.from_entries(
            settings.webhooks.allowed_targets,
            settings.webhooks.refused_targets,
            own_ports=ports,
            own_addresses=self._addresses_of([*hosts, socket.gethostname()]),
        )

    def check_url(self, url: str) -> str:
        """`url` when webhooks may go there (set time); INVALID_VALUE or WEBHOOK_TARGET_REFUSED otherwise.
        A name that does not resolve now is accepted: it is checked again at every delivery."""
        target = _target(url)
        try:
            addresses = self._resolve(target.host, target.port)
        except (OSError, UnicodeError):  # UnicodeError: a name IDNA cannot encode, which resolves nowhere
            return url
        self._check(target, addresses)
        return url

    def post(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Sent:
        """POST `body` once, to an address of the URL's host that was checked just before; no redirect followed."""
        try:
            target = _target(url)
            addresses = self._resolve(target.host, target.port)
            address = self._check(target, addresses)
        except AppError as exc:
            return Sent(SendOutcome.REFUSED, None, f"refused: {exc.message}")
        except (OSError, UnicodeError) as exc:
            return Sent(SendOutcome.FAILED, None, f"ConnectError: {target.host} does not resolve: {exc}")
        limits = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        try:
            with httpcore.ConnectionPool(
                ssl_context=httpx.create_ssl_context(), network_backend=_PinnedBackend(str(address))
            ) as pool:
                response = pool.request(
                    "POST", url, headers=list(headers.items()), content=body, extensions={"timeout": limits}
                )
        except _TRANSPORT_ERRORS as exc:
            return Sent(SendOutcome.FAILED, None, f"{type(exc).__name__}: {exc}")
        if 200 <= response.status < 300:
            return Sent(SendOutcome.DELIVERED, response.status, None)
        return Sent(SendOutcome.FAILED, response.status, f"HTTP {response.status}")

    def _check(self, target: _Target, addresses: list[str]) -> Address:
        """The first address, when every one passes; WEBHOOK_TARGET_REFUSED naming the first that does not."""
        parsed = [parse_address(a) for a in addresses]
        if not parsed:
            raise OSError(f"{target.host} resolves to no address")
        for address in parsed:
            reason = self.policy.refusal(target.host, address, target.port)
            if reason is not None:
                raise AppError(
                    ErrorCode.WEBHOOK_TARGET_REFUSED,
                    f"webhooks may not go to {target.host} port {target.port}: {reason}",
                    {"host": target.host, "address": str(address), "port": target.port},
                )
        return parsed[0]

    def _addresses_of(self, hosts: Iterable[str]) -> set[Address]:
        found: set[Address] = set()
        for host in hosts:
            if host in _WILDCARD_HOSTS:
                continue
            try:
                found.update(parse_address(a) for a in self._resolve(host, 0))
            except (OSError, ValueError):
                continue  # a service the settings name but this host cannot resolve: nothing of ours there
        return found


def _own_services(settings: Settings) -> tuple[set[int], list[str]]:
    """The ports of the appliance's own services and the hosts they run on: the API, and Redis and
    PostgreSQL when the settings use them."""
    ports, hosts = {settings.api.port}, [settings.api.host]
    for host, port in postgres_hosts(settings.resolved_database_url):  # every server of a multi-host URL
        ports.add(port)
        hosts.append(host)
    if settings.queue.backend == "redis":
        parts = urlsplit(settings.queue.redis_url)
        if parts.scheme in ("redis", "rediss"):
            ports.add(parts.port or 6379)
            hosts.append(parts.hostname or "")
    return ports, hosts
