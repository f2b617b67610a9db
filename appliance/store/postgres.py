"""PostgreSQL backend: psycopg 3 connections from a psycopg_pool pool, in autocommit mode.

A thread's transaction holds one pooled connection from its outermost `transaction()` block to
the end of it; outside a transaction each statement borrows a connection and commits alone.
Timestamps are timestamptz, JSON is jsonb.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from appliance.store.backend import ConstraintKind, Params, Row, to_utc

__all__ = ["PostgresBackend"]

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 8
#: How long a call waits for a free pooled connection before giving up.
POOL_TIMEOUT_SECONDS = 10.0
#: Key of the advisory lock that serializes `migrate()` across processes ("appstore").
MIGRATION_LOCK_KEY = 0x6170_7073_746F_7265

_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE"})


@lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """`:name` placeholders as psycopg's `%(name)s` (a `::type` cast is left alone)."""
    return _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


def _is_write(sql: str) -> bool:
    words = sql.split(None, 1)
    return bool(words) and words[0].upper() in _WRITES


class PostgresBackend:
    dialect = "postgres"
    integrity_error = psycopg.IntegrityError

    def __init__(self, conninfo: str) -> None:
        self._local = threading.local()
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            conninfo,
            min_size=POOL_MIN_SIZE,
            max_size=POOL_MAX_SIZE,
            kwargs={"autocommit": True, "row_factory": dict_row},
            timeout=POOL_TIMEOUT_SECONDS,
            name="appliance-store",
            open=True,
        )

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        with self._pool.connection() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    yield
            finally:
                self._local.conn = None

    @contextmanager
    def _connection(self, sql: str) -> Iterator[psycopg.Connection[Row]]:
        conn: psycopg.Connection[Row] | None = getattr(self._local, "conn", None)
        if conn is None:
            with self._pool.connection() as pooled:
                yield pooled
        elif _is_write(sql):
            # A failed statement aborts a PostgreSQL transaction, unlike SQLite's. Running each
            # write in a savepoint keeps the transaction usable after, say, a unique violation.
            with conn.transaction():
                yield conn
        else:
            yield conn

    def fetch(self, sql: str, params: Params | None = None) -> list[Row]:
        with self._connection(sql) as conn:
            return conn.execute(_pyformat(sql), dict(params or {})).fetchall()

    def execute(self, sql: str, params: Params | None = None) -> int:
        with self._connection(sql) as conn:
            return conn.execute(_pyformat(sql), dict(params or {})).rowcount

    def run_script(self, sql: str) -> None:
        with self._connection(sql) as conn:
            conn.execute(sql)

    def lock_migrations(self) -> None:
        self.fetch("SELECT pg_advisory_xact_lock(:key)", {"key": MIGRATION_LOCK_KEY})

    def table_exists(self, name: str) -> bool:
        # A query on pg_tables sees what committed before it started; to_regclass() reads cached
        # catalog entries that may predate a concurrent migrate() this one just waited for.
        rows = self.fetch(
            "SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() AND tablename = :name",
            {"name": name},
        )
        return bool(rows)

    row_lock = " FOR UPDATE"

    def json_text(self, column: str, key_param: str) -> str:
        return f"({column} ->> :{key_param})"

    def encode_json(self, value: Any) -> Jsonb:
        return Jsonb(value)

    def decode_json(self, value: Any) -> Any:
        return value  # psycopg already parsed the jsonb

    def encode_time(self, value: datetime) -> datetime:
        return to_utc(value)

    def decode_time(self, value: datetime) -> datetime:
        return value.astimezone(UTC)

    def constraint_kind(self, error: Exception) -> ConstraintKind | None:
        if isinstance(error, psycopg.errors.UniqueViolation):
            return "unique"
        if isinstance(error, psycopg.errors.ForeignKeyViolation):
            return "foreign_key"
        return None

    def ping(self) -> None:
        self.fetch("SELECT 1")

    def close(self) -> None:
        self._pool.close()
