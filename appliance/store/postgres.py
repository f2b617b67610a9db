"""PostgreSQL backend: psycopg 3 connections from a psycopg_pool pool, in autocommit mode.

A thread's transaction holds one pooled connection from its outermost `transaction()` block to
the end of it; outside a transaction each statement borrows a connection and commits alone.
Timestamps are timestamptz, JSON is jsonb.

A primary switch (Patroni, any HA PostgreSQL; docs/postgres-failover.md): the URL may name
several hosts with `target_session_attrs=read-write`, so that a new connection reaches whichever
is the primary now. Every connection is checked when it is borrowed, and the idle ones are
checked at once when one is found dead, so that a switch costs each process one failed check,
not one per pooled connection. What the switch interrupts is tried again, for at most
`retry_seconds` with back-off, where that is safe:
- borrowing a connection (nothing was sent yet) and a statement the server refused without
  running it (a read-only server: a standby, a demoted primary; one starting or shutting down);
- a read whose connection was lost (running it again changes nothing).
A write whose connection was lost while it ran (it may have committed) and anything inside a
transaction whose connection was lost (the transaction rolled back, or at its commit may not
have) are not run again here: `DatabaseUnavailable` is raised, and the caller's own retries
take the work up (the API answers 503 with Retry-After; a queue task's analysis is run again
once its lease lapses). So is everything once `retry_seconds` have passed.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool, PoolTimeout

from appliance.store.backend import ConstraintKind, DatabaseUnavailable, Params, Row, to_utc

__all__ = ["PostgresBackend", "is_read"]

log = logging.getLogger(__name__)

T = TypeVar("T")

POOL_MIN_SIZE = 1
POOL_MAX_SIZE = 8
#: Defaults of the settings `database.retry_seconds` and `database.connect_timeout_seconds`.
RETRY_SECONDS = 40.0
CONNECT_TIMEOUT_SECONDS = 5.0
#: How long the pool's own attempts to open a connection go on after the first one failed
#: before it leaves the next one to the next borrower (psycopg_pool's `reconnect_timeout`):
#: short, so that its back-off (1, 2, 4 ... s) never keeps a borrower waiting long once a new
#: primary takes connections.
RECONNECT_SECONDS = 2.0
#: The longest Retry-After the backend suggests.
MAX_RETRY_AFTER_SECONDS = 60
#: How long one try waits for the pool to hand a connection over. Short: while the pool has none
#: (no server takes connections), each new try is what has it attempt one again.
BORROW_WAIT_SECONDS = 1.0
#: Back-off between two tries: the first delay, doubled after each try up to the last.
FIRST_DELAY_SECONDS = 0.05
MAX_DELAY_SECONDS = 0.5
#: Key of the advisory lock that serializes `migrate()` across processes ("appstore").
MIGRATION_LOCK_KEY = 0x6170_7073_746F_7265

_NAMED_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE"})
_WRITE_WORD = re.compile(r"\b(?:INSERT|UPDATE|DELETE|MERGE|TRUNCATE)\b", re.IGNORECASE)
#: Errors of statements the server refused without running them: it takes no writes (a standby,
#: a primary demoted under the connection), or it is starting or shutting down.
_REFUSED_UNRUN = (psycopg.errors.ReadOnlySqlTransaction, psycopg.errors.CannotConnectNow)


@lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    """`:name` placeholders as psycopg's `%(name)s` (a `::type` cast is left alone)."""
    return _NAMED_PARAM.sub(r"%(\1)s", sql.replace("%", "%%"))


def _is_write(sql: str) -> bool:
    words = sql.split(None, 1)
    return bool(words) and words[0].upper() in _WRITES


def is_read(sql: str) -> bool:
    """Whether running `sql` again changes nothing: a SELECT, or a WITH query that writes nothing."""
    words = sql.split(None, 1)
    first = words[0].upper() if words else ""
    return first == "SELECT" or (first == "WITH" and not _WRITE_WORD.search(sql))


def _lost(error: BaseException, conn: psycopg.Connection[Row] | None) -> bool:
    """Whether `error` means the connection (or the server behind it) is gone."""
    if isinstance(error, PoolTimeout):
        return True
    return isinstance(error, psycopg.OperationalError) and (conn is None or conn.closed or conn.broken)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return f"{type(error).__name__}: {text.splitlines()[0] if text else ''}".rstrip(": ")


class _Retry(Exception):
    """Raised inside one try: the cause may be tried again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class PostgresBackend:
    dialect = "postgres"
    integrity_error = psycopg.IntegrityError

    def __init__(
        self,
        conninfo: str,
        *,
        retry_seconds: float = RETRY_SECONDS,
        connect_timeout_seconds: float = CONNECT_TIMEOUT_SECONDS,
    ) -> None:
        self._local = threading.local()
        self.retry_seconds = retry_seconds
        #: A caller told to come back later is told after about as long as this process waits.
        self._retry_after = max(1, min(MAX_RETRY_AFTER_SECONDS, math.ceil(retry_seconds)))
        self._connect_timeout = connect_timeout_seconds
        kwargs: dict[str, Any] = {"autocommit": True, "row_factory": dict_row}
        if "connect_timeout" not in conninfo:  # the URL's own wins
            kwargs["connect_timeout"] = max(1, round(connect_timeout_seconds))
        self._pool: ConnectionPool[psycopg.Connection[Row]] = ConnectionPool(
            conninfo,
            min_size=POOL_MIN_SIZE,
            max_size=POOL_MAX_SIZE,
            kwargs=kwargs,
            timeout=connect_timeout_seconds,
            reconnect_timeout=RECONNECT_SECONDS,
            name="appliance-store",
            open=True,
        )

    # Borrowing, retrying ----------------------------------------------------------------------

    def _borrow(self, deadline: float) -> psycopg.Connection[Row]:
        """A pooled connection that answers, borrowed before `deadline`; `_Retry` if none did."""
        try:
            conn = self._pool.getconn(timeout=max(0.01, min(deadline - time.monotonic(), BORROW_WAIT_SECONDS)))
        except PoolTimeout as exc:
            raise _Retry(exc) from exc
        try:
            ConnectionPool.check_connection(conn)
        except Exception as exc:
            self._pool.putconn(conn)  # closed: the pool discards it and opens another
            if not _lost(exc, conn):
                raise
            self._pool.check()  # its idle siblings most likely died with it: find them all at once
            raise _Retry(exc) from exc
        return conn

    def _give_back(self, conn: psycopg.Connection[Row], error: BaseException | None) -> None:
        if isinstance(error, _REFUSED_UNRUN):
            conn.close()  # a connection to a server that takes no writes: never borrowed again
        self._pool.putconn(conn)

    def _retrying(
        self, what: str, attempt: Callable[[float], T], patience: float | None = None, deadline: float | None = None
    ) -> T:
        """`attempt(deadline)` until it returns, tried again while it raises `_Retry` and
        `patience` (default `retry_seconds`; or until `deadline`) has not run out; then
        `DatabaseUnavailable`."""
        started = time.monotonic()
        patience = self.retry_seconds if patience is None else patience
        if deadline is not None:
            patience = max(0.0, deadline - started)
        deadline = started + patience
        delay, tries = FIRST_DELAY_SECONDS, 0
        while True:
            tries += 1
            try:
                result = attempt(deadline)
            except _Retry as retry:
                cause = retry.cause
                if time.monotonic() + delay >= deadline:
                    raise DatabaseUnavailable(
                        f"the database did not take {what} within {patience:g} s ({tries} tries): {_first_line(cause)}",
                        self._retry_after,
                    ) from cause
                if tries == 1:
                    log.warning("database: %s did not go through (%s); trying again", what, _first_line(cause))
                time.sleep(delay)
                delay = min(delay * 2, MAX_DELAY_SECONDS)
                continue
            if tries > 1:
                elapsed = time.monotonic() - started
                log.warning("database: %s went through after %d tries in %.2f s", what, tries, elapsed)
            return result

    # Transactions and statements ------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._transaction(None):
            yield

    def run_transaction(self, work: Callable[[], T], *, idempotent: bool = False) -> T:
        if getattr(self._local, "conn", None) is not None:
            return work()  # the open transaction's owner decides

        def attempt(deadline: float) -> T:
            try:
                with self._transaction(deadline):
                    return work()
            except DatabaseUnavailable as exc:
                if exc.in_doubt and not idempotent:
                    raise
                raise _Retry(exc) from exc

        return self._retrying("a transaction", attempt)

    @contextmanager
    def _transaction(self, deadline: float | None) -> Iterator[None]:
        if getattr(self._local, "conn", None) is not None:
            yield
            return
        conn = self._retrying("a transaction", self._borrow, deadline=deadline)
        error: BaseException | None = None
        committing = False
        self._local.conn = conn
        try:
            with conn.transaction():
                yield
                committing = True
        except BaseException as exc:
            error = exc
            if isinstance(exc, _REFUSED_UNRUN) or (_lost(exc, conn) and not committing):
                raise DatabaseUnavailable(
                    f"the database was lost in a transaction, which did not commit: {_first_line(exc)}",
                    self._retry_after,
                ) from exc
            if _lost(exc, conn):
                raise self._in_doubt("at a commit", exc) from exc
            raise
        finally:
            self._local.conn = None
            self._give_back(conn, error)

    def _in_doubt(self, when: str, exc: BaseException) -> DatabaseUnavailable:
        """The connection went `when` the server may have committed: the caller cannot know whether it did."""
        return DatabaseUnavailable(
            f"the connection to the database was lost {when}, which may or may not have gone through: "
            f"{_first_line(exc)}",
            self._retry_after,
            in_doubt=True,
        )

    def _statement(self, sql: str, run: Callable[[psycopg.Connection[Row]], T]) -> T:
        conn: psycopg.Connection[Row] | None = getattr(self._local, "conn", None)
        if conn is not None:
            if _is_write(sql):
                # A failed statement aborts a PostgreSQL transaction, unlike SQLite's. Running each
                # write in a savepoint keeps the transaction usable after, say, a unique violation.
                with conn.transaction():
                    return run(conn)
            return run(conn)
        read = is_read(sql)

        def attempt(deadline: float) -> T:
            borrowed = self._borrow(deadline)
            error: BaseException | None = None
            try:
                return run(borrowed)
            except Exception as exc:
                error = exc
                if isinstance(exc, _REFUSED_UNRUN) or (read and _lost(exc, borrowed)):
                    raise _Retry(exc) from exc
                if _lost(exc, borrowed):
                    raise self._in_doubt("during a write", exc) from exc
                raise
            finally:
                self._give_back(borrowed, error)

        return self._retrying("a read" if read else "a write", attempt)

    def fetch(self, sql: str, params: Params | None = None) -> list[Row]:
        return self._statement(sql, lambda conn: conn.execute(_pyformat(sql), dict(params or {})).fetchall())

    def execute(self, sql: str, params: Params | None = None) -> int:
        return self._statement(sql, lambda conn: conn.execute(_pyformat(sql), dict(params or {})).rowcount)

    def run_script(self, sql: str) -> None:
        self._statement(sql, lambda conn: conn.execute(sql))

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
        """Whether the database answers now: tried for the connect timeout only, not `retry_seconds`
        (a readiness probe reports the present, and must answer before its own timeout)."""

        def attempt(deadline: float) -> None:
            conn = self._borrow(deadline)
            self._give_back(conn, None)

        self._retrying("a ping", attempt, patience=self._connect_timeout)

    def close(self) -> None:
        self._pool.close()
