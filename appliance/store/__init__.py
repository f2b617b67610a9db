"""The appliance's records in SQLite or PostgreSQL, behind one `Store` interface.

    store = open_store("sqlite:///var/appliance.db")   # or "postgresql://user@host:5432/dbname"
    store.migrate()

`sqlite:///` is followed by the file's path: `sqlite:///var/a.db` is relative to the working
directory, `sqlite:////srv/a.db` is absolute.
"""

from __future__ import annotations

from pathlib import Path

from appliance.store.protocol import AnalysisFilter, FolderFilter, MetaCondition, Store
from appliance.store.sql_store import SqlStore
from appliance.store.sqlite import SqliteBackend

__all__ = ["AnalysisFilter", "FolderFilter", "MetaCondition", "Store", "open_store", "sqlite_path"]

_SQLITE_PREFIX = "sqlite:///"
_POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def sqlite_path(url: str) -> Path | None:
    """The database file a `sqlite:///path` URL names; None for any other URL."""
    return Path(url.removeprefix(_SQLITE_PREFIX)) if url.startswith(_SQLITE_PREFIX) else None


def open_store(url: str) -> Store:
    """A Store for a `sqlite:///path` or `postgresql://` URL (not migrated: call `migrate()`)."""
    if (path := sqlite_path(url)) is not None:
        if not path.name or path.name == ":memory:":
            raise ValueError(f"database URL {url!r} names no database file")
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqlStore(SqliteBackend(path))
    if url.startswith(_POSTGRES_SCHEMES):
        # Imported here: psycopg is an optional dependency (the `postgres` extra).
        from appliance.store.postgres import PostgresBackend

        return SqlStore(PostgresBackend(url))
    scheme = url.partition("://")[0] if "://" in url else url
    raise ValueError(f"unsupported database URL scheme {scheme!r}: expected sqlite:///path or postgresql://...")
