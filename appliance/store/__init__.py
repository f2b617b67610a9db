"""The appliance's records in SQLite or PostgreSQL, behind one `Store` interface.

    store = open_store("sqlite:///var/appliance.db")   # or "postgresql://user@host:5432/dbname"
    store.migrate()

`sqlite:///` is followed by the file's path: `sqlite:///var/a.db` is relative to the working
directory, `sqlite:////srv/a.db` is absolute. A PostgreSQL URL may name several hosts, as libpq
reads them (`postgresql://u@h1:5432,h2:5432/db?target_session_attrs=read-write`): a new
connection then reaches whichever takes writes (docs/postgres-failover.md).
"""

from __future__ import annotations

from pathlib import Path

from appliance.store.backend import DATABASE_AWAY, DatabaseUnavailable
from appliance.store.protocol import AnalysisFilter, FolderFilter, MetaCondition, Store
from appliance.store.sql_store import SqlStore
from appliance.store.sqlite import SqliteBackend
from appliance.store.urls import postgres_hosts

__all__ = [
    "DATABASE_AWAY",
    "AnalysisFilter",
    "DatabaseUnavailable",
    "FolderFilter",
    "MetaCondition",
    "Store",
    "open_store",
    "postgres_hosts",
    "sqlite_path",
]

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def sqlite_path(url: str) -> Path | None:
    """The database file a `sqlite:///path` URL names; None for any other URL."""
    return Path(url.removeprefix(_SQLITE_PREFIX)) if url.startswith(_SQLITE_PREFIX) else None


def open_store(url: str, *, retry_seconds: float | None = None, connect_timeout_seconds: float | None = None) -> Store:
    """A Store for a `sqlite:///path` or `postgresql://` URL (not migrated: call `migrate()`).

    PostgreSQL: `retry_seconds` is how long what may safely run again is tried again when the
    server goes away (settings `database.*`); `connect_timeout_seconds` bounds one connection
    attempt. Both have the backend's defaults when None."""
    if (path := sqlite_path(url)) is not None:
        if not path.name or path.name == ":memory:":
            raise ValueError(f"database URL {url!r} names no database file")
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqlStore(SqliteBackend(path))
    if url.startswith(_POSTGRES_SCHEMES):
        # Imported here: psycopg is an optional dependency (the `postgres` extra).
        from appliance.store.postgres import PostgresBackend

        options = {"retry_seconds": retry_seconds, "connect_timeout_seconds": connect_timeout_seconds}
        return SqlStore(PostgresBackend(url, **{k: v for k, v in options.items() if v is not None}))
    scheme = url.partition("://")[0] if "://" in url else url
    raise ValueError(f"unsupported database URL scheme {scheme!r}: expected sqlite:///path or postgresql://...")
