"""The servers a PostgreSQL URL names, read as libpq reads them: `postgresql://h1:5432,h2:5433/db`,
`?host=h1,h2&port=5432,5433`, bracketed IPv6 addresses; 5432 where no port is given.

Pure text: code that must know the database's hosts and ports (the webhook targets it refuses)
reads them here, never with `urllib.parse`, whose `port` fails on a list of hosts.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

__all__ = ["DEFAULT_PORT", "postgres_hosts"]

DEFAULT_PORT = 5432
_SCHEMES = ("postgresql", "postgres")


def _split_host_port(item: str) -> tuple[str, str]:
    if item.startswith("["):  # [::1]:5432
        host, _, rest = item[1:].partition("]")
        return host, rest.removeprefix(":")
    host, _, port = item.partition(":")
    return host, port


def postgres_hosts(url: str) -> list[tuple[str, int]]:
    """(host, port) of every server `url` names, in order; [] for a URL of another scheme. A host
    may be a unix socket's directory (it starts with `/`), or empty (libpq's default socket)."""
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        return []
    query = parse_qs(parts.query)
    location = parts.netloc.rpartition("@")[2]
    pairs = [_split_host_port(unquote(item)) for item in location.split(",")] if location else []
    if "host" in query:
        pairs = [(host, "") for host in query["host"][-1].split(",")]
    if "port" in query:
        ports = query["port"][-1].split(",")
        pairs = pairs or [("", "")]
        ports = ports if len(ports) == len(pairs) else [ports[0]] * len(pairs)
        pairs = [(host, port) for (host, _), port in zip(pairs, ports, strict=True)]
    found = []
    for host, port in pairs or [("", "")]:
        try:
            number = int(port) if port else DEFAULT_PORT
        except ValueError as exc:
            raise ValueError(f"database URL: not a port number: {port!r}") from exc
        found.append((host, number))
    return found
