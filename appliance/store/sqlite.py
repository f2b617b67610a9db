"""SQLite backend: sqlite-utils over one sqlite3 connection per thread, in WAL mode.

Timestamps are stored as fixed-width ISO-8601 UTC text ('2024-01-31T12:00:00.000000Z'), so text
order is time order and the store can compare them in SQL. JSON is stored as text.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlite_utils import Database

from appliance.store.backend import ConstraintKind, Params, Row, to_utc

__all__ = ["SqliteBackend"]

T = TypeVar("T")

#: How long a writer waits for another connection's write lock (SQLite's busy_timeout).
BUSY_TIMEOUT_SECONDS = 5.0

_UNIQUE_ERRORS = frozenset({"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"})

#: A JSON value as the text PostgreSQL's `->>` gives: strings unquoted, true/false spelled out.
#: json_each() matches the key as a plain value; a JSON path built from it would need quoting.
_JSON_TEXT_SQL = (
    "(SELECT CASE type WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' ELSE CAST(value AS TEXT) END"
    " FROM json_each({column}) WHERE key = :{key_param})"
)


class SqliteBackend:
    dialect = "sqlite"
    integrity_error = sqlite3.IntegrityError

    def __init__(self, path: Path) -> None:
        self._path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        # Weak, so that a connection goes (and closes) with the thread that opened it.
        self._databases: weakref.WeakSet[Database] = weakref.WeakSet()

    def _db(self) -> Database:
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            # Each connection is only used by the thread that opened it; check_same_thread=False
            # only lets close() release all of them from whichever thread calls it.
            conn = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT_SECONDS, check_same_thread=False)
            db = Database(conn, execute_plugins=False)
            db.enable_wal()
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            self._local.db = db
            with self._lock:
                self._databases.add(db)
        return db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        db = self._db()
        if db.conn.in_transaction:
            yield
            return
        # IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so a transaction
        # that reads and then writes cannot fail on a lock upgrade.
        db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            db.rollback()
            raise
        try:
            db.commit()
        except BaseException:
            db.rollback()
            raise

    def run_transaction(self, work: Callable[[], T], *, idempotent: bool = False) -> T:
        """`work()` in a transaction: a file on this host has no connection to lose."""
        with self.transaction():
            return work()

    def fetch(self, sql: str, params: Params | None = None) -> list[Row]:
        return list(self._db().query(sql, dict(params or {})))

    def execute(self, sql: str, params: Params | None = None) -> int:
        return self._db().execute(sql, dict(params or {})).rowcount

    def run_script(self, sql: str) -> None:
        self._db().executescript(sql)

    def lock_migrations(self) -> None:
        """Nothing to do: the transaction's BEGIN IMMEDIATE already excludes other writers."""

    def table_exists(self, name: str) -> bool:
        return self._db()[name].exists()

    row_lock = ""  # BEGIN IMMEDIATE already holds the write lock

    def json_text(self, column: str, key_param: str) -> str:
        return _JSON_TEXT_SQL.format(column=column, key_param=key_param)

    def encode_json(self, value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    def decode_json(self, value: str) -> Any:
        return json.loads(value)

    def encode_time(self, value: datetime) -> str:
        # isoformat() zero-pads the year, unlike strftime('%Y'): the width stays fixed.
        return to_utc(value).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"

    def decode_time(self, value: str) -> datetime:
        return to_utc(datetime.fromisoformat(value))

    def constraint_kind(self, error: Exception) -> ConstraintKind | None:
        name = getattr(error, "sqlite_errorname", "")
        if name in _UNIQUE_ERRORS:
            return "unique"
        if name == "SQLITE_CONSTRAINT_FOREIGNKEY":
            return "foreign_key"
        return None

    def ping(self) -> None:
        self._db().execute("SELECT 1").fetchall()

    def close(self) -> None:
        with self._lock:
            databases = list(self._databases)
            self._databases.clear()
        for db in databases:
            db.close()
