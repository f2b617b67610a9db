"""Throwaway PostgreSQL databases for tests.

The server comes from `APPLIANCE_TEST_POSTGRES_URL` (a `postgresql://` URL naming a database the
user may connect to, e.g. `postgres` or `test`). Tests that need it call `require_server()`:
it skips them when the server is unreachable, except in CI (`CI=true`), where it fails them.

    server = require_server()
    url = create_database(server)      # postgresql://.../appliance_test_1a2b3c4d5e6f
    ...
    drop_database(url, server)

or `with throwaway_database() as url: ...`.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode, urlsplit

import psycopg
import pytest
from psycopg import sql

__all__ = [
    "create_database",
    "drop_database",
    "require_server",
    "server_url",
    "throwaway_database",
    "unix_socket_url",
]

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/test"
CONNECT_TIMEOUT_SECONDS = 3


def server_url() -> str:
    return os.environ.get("APPLIANCE_TEST_POSTGRES_URL") or DEFAULT_SERVER_URL


def require_server(url: str | None = None) -> str:
    """The server's URL once it answers; otherwise skip the test (fail it when CI=true)."""
    url = url or server_url()
    try:
        psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True).close()
    except psycopg.OperationalError as error:
        message = f"PostgreSQL not reachable at {url}"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}: {error}")
        pytest.skip(message)
    return url


def create_database(server: str | None = None, prefix: str = "appliance_test") -> str:
    """Create an empty, randomly named database on the server; return its URL."""
    server = server or server_url()
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlsplit(server)._replace(path=f"/{name}").geturl()


def drop_database(url: str, server: str | None = None) -> None:
    """Drop the database `url` names, closing any connection still open to it."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server or server_url(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def unix_socket_url(url: str) -> str | None:
    """`url`'s database reached through the server's unix socket, or None when the server has
    none that answers this process. A socket in a directory works from every network namespace
    of the machine, where 127.0.0.1 is each namespace's own."""
    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
        directories = conn.execute("SHOW unix_socket_directories").fetchone()[0]
        port = conn.info.port
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    for directory in filter(None, (d.strip() for d in directories.split(","))):
        if directory.startswith("@"):
            continue  # an abstract socket belongs to one network namespace
        candidate = parts._replace(netloc=f"{credentials}@", query=urlencode({"host": directory, "port": port}))
        try:
            psycopg.connect(candidate.geturl(), connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
        except psycopg.OperationalError:
            continue  # no such socket here, or its authentication differs from TCP's
        return candidate.geturl()
    return None


@contextmanager
def throwaway_database(server: str | None = None) -> Iterator[str]:
    """A fresh database's URL for the block; skips (or fails in CI) without a server."""
    server = require_server(server)
    url = create_database(server)
    try:
        yield url
    finally:
        drop_database(url, server)
