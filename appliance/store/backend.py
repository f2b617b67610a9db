"""The seam between the store's dialect-neutral SQL and one database engine.

`SqlStore` writes every query once, with named `:name` parameters, and leaves to a Backend what
differs between engines: connections and transactions, parameter style, how JSON and timestamps
are stored, how a JSON key is read as text, and which errors mean a violated constraint.

Booleans need no hook: both drivers bind Python bools (SQLite stores 0/1) and the store reads
them back with `bool()`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

from appliance.domain.errors import AppError, ErrorCode

__all__ = [
    "DATABASE_AWAY",
    "RETRY_AFTER_DETAIL",
    "Backend",
    "ConstraintKind",
    "DatabaseUnavailable",
    "Params",
    "Row",
    "to_utc",
]

T = TypeVar("T")
Params = Mapping[str, Any]
Row = dict[str, Any]
ConstraintKind = Literal["unique", "foreign_key"]

#: The detail of an error that passes with time: seconds to wait, which the API sends as
#: `Retry-After` (the same key as `appliance.web.responses.RETRY_AFTER_DETAIL`).
RETRY_AFTER_DETAIL = "retry_after_seconds"


class DatabaseUnavailable(AppError):
    """The database did not answer, or no server took writes, for as long as the backend kept
    trying (a primary switch that lasts longer, an outage), or the connection was lost in the
    middle of a transaction, which then did not commit (or, lost at its very commit, may have).

    SERVICE_UNAVAILABLE: the API answers 503 with `Retry-After`; a queue task fails, and the
    durable retries take its work up again (docs/postgres-failover.md).
    """

    def __init__(self, message: str, retry_after_seconds: int, *, in_doubt: bool = False) -> None:
        super().__init__(
            ErrorCode.SERVICE_UNAVAILABLE,
            message,
            {"service": "database", RETRY_AFTER_DETAIL: max(1, retry_after_seconds)},
        )
        #: The connection was lost while a write or a commit was under way: it may have gone through.
        self.in_doubt = in_doubt


#: What a store raises while its database is away for a moment, which a caller that can try again
#: later catches: PostgreSQL's backend says it as DatabaseUnavailable, SQLite as an OperationalError
#: ("database is locked", "disk I/O error"). Anything else is a bug and surfaces as one.
DATABASE_AWAY: tuple[type[Exception], ...] = (DatabaseUnavailable, sqlite3.OperationalError)


class Backend(Protocol):
    #: Names the folder of this engine's migrations: `migrations/<dialect>/NNNN_name.sql`.
    dialect: str

    @property
    def integrity_error(self) -> type[Exception]:
        """The driver's exception class for violated constraints."""

    def transaction(self) -> AbstractContextManager[None]:
        """Open a transaction for the calling thread, or join the one it already has open.

        Outside a transaction each statement commits on its own.
        """

    def run_transaction(self, work: Callable[[], T], *, idempotent: bool = False) -> T:
        """`work()` in a transaction (joining the thread's open one, if any), run again while the
        connection is lost under it and the transaction rolled back, or (if `idempotent`) may
        have committed; what it returns."""

    def fetch(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a statement that returns rows (SELECT, or a write with RETURNING); rows as dicts."""

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""

    def run_script(self, sql: str) -> None:
        """Run several parameterless statements (a migration) in the current transaction."""

    def lock_migrations(self) -> None:
        """Inside a transaction: wait until no other process is migrating this database."""

    def table_exists(self, name: str) -> bool: ...

    #: Appended to a SELECT to lock its rows until the transaction ends ("" where the
    #: transaction already excludes other writers, as SQLite's BEGIN IMMEDIATE does).
    row_lock: str

    def json_text(self, column: str, key_param: str) -> str:
        """SQL for the top-level key (bound as `:key_param`) of JSON `column`, as text; NULL if absent."""

    def encode_json(self, value: Any) -> Any: ...

    def decode_json(self, value: Any) -> Any: ...

    def encode_time(self, value: datetime) -> Any:
        """A timezone-aware datetime as the engine stores it; comparisons keep time order."""

    def decode_time(self, value: Any) -> datetime:
        """A stored timestamp as a timezone-aware UTC datetime."""

    def constraint_kind(self, error: Exception) -> ConstraintKind | None:
        """Which constraint an `integrity_error` violated, if it is one the store reports."""

    def ping(self) -> None: ...

    def close(self) -> None: ...


def to_utc(value: datetime) -> datetime:
    """`value` in UTC; naive datetimes are refused rather than guessed."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()}: the store only takes timezone-aware times")
    return value.astimezone(UTC)
