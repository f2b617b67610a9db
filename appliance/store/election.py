"""One leader among several processes that may each do a job: a lock only one of them holds.

    lock = open_leader_lock(database_url, "scheduler", timeout_seconds=15)
    if lock.hold():      # taken now, or still held since the last call
        ...              # lead
    else:
        lock.problem     # None: another process holds it; else why this one could not check
    lock.release()

`hold()` is called again and again (a standby retrying, a leader checking before it acts); it
never blocks on another holder and never raises for a database that does not answer: it answers
False and says why in `problem`, and the next call starts again from a new connection.

- **PostgreSQL**: a session-level advisory lock (`pg_try_advisory_lock`) on a connection of its
  own, outside the store's pool, kept open from one `hold()` to the next. The database frees the lock
  when that session ends: at once when the holding process dies on a live host (its kernel closes
  the socket), and within `timeout_seconds` when the host itself is gone or cut off, through TCP
  keepalives and a TCP user timeout the connection sets on both ends (the server's side through
  the session's `tcp_keepalives_*` and `tcp_user_timeout` settings). The holder checks it still
  holds the lock (pg_locks, on that session) at every `hold()`; when its connection broke it
  answers False, and a holder cut off from the database notices within two thirds of the timeout,
  before the database hands the lock to another.
- **SQLite** (one host): an exclusive `flock` on a file beside the database
  (`<database>.<name>.lock`), held on an open file description of its own, which the kernel drops
  when the process ends however it ends. Two lock objects in one process exclude each other too.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import math
import os
import socket
from pathlib import Path
from typing import Any, Protocol

from appliance.store import sqlite_path

__all__ = ["FileLeaderLock", "LeaderLock", "PostgresLeaderLock", "lock_key", "open_leader_lock"]

log = logging.getLogger(__name__)

#: Keepalive probes before the database (or the holder) gives a silent connection up.
KEEPALIVE_PROBES = 4


class LeaderLock(Protocol):
    #: What the lock is, for the log (no password).
    description: str
    #: Why the last `hold()` answered False when that was not another holder; None otherwise.
    problem: str | None

    def hold(self) -> bool:
        """True when this object holds the lock now (taken now, or still held); False when another
        holds it or the lock could not be checked (`problem` says why)."""

    def release(self) -> None:
        """Give the lock up (if held) and close what holds it; `hold()` may take it again later."""


def lock_key(name: str) -> int:
    """The 64-bit advisory lock key of `name` (signed, as PostgreSQL's bigint keys are)."""
    digest = hashlib.sha256(f"appliance:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def keepalive_settings(timeout_seconds: float) -> dict[str, int]:
    """TCP keepalive and user timeout values that give a silent peer up after about `timeout_seconds`:
    the first probe after a third of it, then KEEPALIVE_PROBES probes spread over the rest."""
    idle = max(1, math.ceil(timeout_seconds / 3))
    interval = max(1, math.ceil((timeout_seconds - idle) / KEEPALIVE_PROBES))
    return {
        "keepalives_idle": idle,
        "keepalives_interval": interval,
        "keepalives_count": KEEPALIVE_PROBES,
        "tcp_user_timeout_ms": max(1000, int(timeout_seconds * 1000)),
    }


class PostgresLeaderLock:
    """A session-level advisory lock on a dedicated connection (see the module's docstring)."""

    def __init__(self, conninfo: str, name: str, *, timeout_seconds: float, application_name: str = "") -> None:
        import psycopg  # the `postgres` extra

        self._psycopg = psycopg
        self._conninfo = conninfo
        self.key = lock_key(name)
        self.timeout_seconds = timeout_seconds
        self._application_name = application_name or f"appliance {name} on {socket.gethostname()}"
        self._conn: Any = None
        self._held = False
        self.problem: str | None = None
        self.description = f"PostgreSQL advisory lock {self.key} ({name})"

    def _connect(self) -> Any:
        keepalive = keepalive_settings(self.timeout_seconds)
        conn = self._psycopg.connect(
            self._conninfo,
            autocommit=True,
            connect_timeout=max(2, math.ceil(self.timeout_seconds / 3)),
            application_name=self._application_name,
            keepalives=1,
            keepalives_idle=keepalive["keepalives_idle"],
            keepalives_interval=keepalive["keepalives_interval"],
            keepalives_count=keepalive["keepalives_count"],
            # The holder's end gives up sooner than the server's, so that a leader cut off from the
            # database steps down before the database lets another take the lock.
            tcp_user_timeout=max(1000, keepalive["tcp_user_timeout_ms"] * 2 // 3),
        )
        try:
            # The server's end of the session: the same keepalives, so that the database ends the
            # session (and frees the lock) when this host goes silent; no idle-session limit that a
            # site's configuration might set, which would end a standby's or a leader's session.
            # Each applies to the session's socket at once (ignored on a unix socket).
            settings = {
                "tcp_keepalives_idle": keepalive["keepalives_idle"],
                "tcp_keepalives_interval": keepalive["keepalives_interval"],
                "tcp_keepalives_count": keepalive["keepalives_count"],
            }
            if conn.info.server_version >= 120000:
                settings["tcp_user_timeout"] = keepalive["tcp_user_timeout_ms"]
            if conn.info.server_version >= 140000:
                settings["idle_session_timeout"] = 0
            for name, value in settings.items():
                conn.execute("SELECT set_config(%s, %s, false)", (name, str(value)))
        except BaseException:
            conn.close()
            raise
        return conn

    def hold(self) -> bool:
        try:
            if self._conn is None or self._conn.closed:
                self._held = False
                self._conn = self._connect()
            if self._held:
                # pg_locks shows a bigint key as two unsigned 32-bit halves: classid, objid.
                unsigned = self.key & 0xFFFF_FFFF_FFFF_FFFF
                row = self._conn.execute(
                    "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_locks WHERE locktype = 'advisory'"
                    " AND pid = pg_backend_pid() AND granted AND objsubid = 1"
                    " AND classid = %(high)s::bigint::oid AND objid = %(low)s::bigint::oid)",
                    {"high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF},
                ).fetchone()
                self._held = bool(row and row[0])
                self.problem = None if self._held else "the lock's session no longer holds it"
                return self._held
            row = self._conn.execute("SELECT pg_try_advisory_lock(%(key)s)", {"key": self.key}).fetchone()
            self._held = bool(row and row[0])
            self.problem = None
            return self._held
        except self._psycopg.Error as exc:
            self.problem = f"{type(exc).__name__}: {str(exc).strip() or 'connection lost'}"
            self._drop()
            return False

    def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()  # psycopg closes a broken connection too, without raising

    def backend_pid(self) -> int | None:
        """The database session's process id while connected (tests end it to cut the connection)."""
        return None if self._conn is None or self._conn.closed else int(self._conn.info.backend_pid)

    def release(self) -> None:
        if self._held and self._conn is not None and not self._conn.closed:
            try:
                self._conn.execute("SELECT pg_advisory_unlock(%(key)s)", {"key": self.key})
            except self._psycopg.Error as exc:
                log.warning(
                    "the scheduler's lock was not released (%s: %s); closing its session frees it",
                    type(exc).__name__,
                    exc,
                )
        self._drop()


class FileLeaderLock:
    """An exclusive `flock` on a file (see the module's docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        self.problem: str | None = None
        self.description = f"file lock {path}"

    def hold(self) -> bool:
        if self._fd is not None:
            if self._same_file(self._fd):
                return True
            # Someone removed or replaced the file: another process may lock the new one.
            self.problem = f"{self.path} was removed or replaced"
            self._drop()
            return False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            self.problem = f"cannot open {self.path}: {exc.strerror}"
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                self.problem = None  # another holds it
            else:
                self.problem = f"cannot lock {self.path}: {exc.strerror}"
            return False
        if not self._same_file(fd):  # removed between the open and the lock
            os.close(fd)
            self.problem = f"{self.path} was removed while it was being locked"
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {socket.gethostname()}\n".encode())
        self._fd, self.problem = fd, None
        return True

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except OSError:
            return False

    def _drop(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)  # the kernel drops the flock with the last descriptor of the description

    def release(self) -> None:
        self._drop()


def open_leader_lock(database_url: str, name: str, *, timeout_seconds: float) -> LeaderLock:
    """The lock named `name` of the database `database_url` names (see the module's docstring)."""
    if (path := sqlite_path(database_url)) is not None:
        return FileLeaderLock(path.with_name(f"{path.name}.{name}.lock"))
    if database_url.startswith(("postgresql://", "postgres://")):
        return PostgresLeaderLock(database_url, name, timeout_seconds=timeout_seconds)
    scheme = database_url.partition("://")[0]
    raise ValueError(f"unsupported database URL scheme {scheme!r}: expected sqlite:///path or postgresql://...")
