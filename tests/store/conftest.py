"""Fixtures that run every store test once on SQLite and once on PostgreSQL.

PostgreSQL gets one throwaway database per test session, migrated once and emptied before each
test; migration tests get a fresh database of their own (`store_url`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from appliance.store import Store, open_store
from tests.support.postgres import create_database, drop_database, require_server

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
#: Children before parents. DELETE beats TRUNCATE on tables this small.
TABLES = (
    "login_failures",
    "queue_depth_samples",
    "hosts",
    "host_parts",
    "operator_decisions",
    "webhook_deliveries",
    "analyses",
    "media",
    "folders",
    "sessions",
    "users",
    "companies",
)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database for the session's tests, with the schema applied."""
    server = require_server()
    url = create_database(server)
    store = open_store(url)
    store.migrate()
    store.close()
    yield url
    drop_database(url, server)


def sqlite_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'store.db'}"


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A migrated, empty store."""
    if request.param == "sqlite":
        store = open_store(sqlite_url(tmp_path))
        store.migrate()
    else:
        url = request.getfixturevalue("postgres_url")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("; ".join(f"DELETE FROM {table}" for table in TABLES))
        store = open_store(url)
    yield store
    store.close()


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database (no schema yet)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    server = require_server()
    url = create_database(server)
    yield url
    drop_database(url, server)
