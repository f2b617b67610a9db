"""The lock that elects one scheduler (appliance/store/election.py), on both databases: two lock
objects in one process, each on its own connection (or open file), stand for two schedulers."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from appliance.store.election import (
    FileLeaderLock,
    LeaderLock,
    PostgresLeaderLock,
    keepalive_settings,
    lock_key,
    open_leader_lock,
)
from tests.support.missing import missing
from tests.support.postgres import require_server, server_url

#: How long a standby may take to see a lock freed: a few of its tries, `RETRY` apart.
RETRY = 0.2
TAKEOVER_BOUND = 2.0

Electors = Callable[[], LeaderLock]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def elector(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Electors]:
    """Makes lock objects of one election (a name of its own per test), each on its own connection."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'appliance.db'}"
    else:
        url = require_server()
    name = f"test-{os.urandom(4).hex()}"
    made: list[LeaderLock] = []

    def make() -> LeaderLock:
        made.append(open_leader_lock(url, name, timeout_seconds=6))
        return made[-1]

    yield make
    for lock in made:
        lock.release()


def _cut(lock: LeaderLock) -> None:
    """Break the lock's hold the way a dead holder would: its session ended by the database, or
    (SQLite) its open file closed, as the kernel does for a process that dies."""
    if isinstance(lock, PostgresLeaderLock):
        pid = lock.backend_pid()
        assert pid is not None
        with psycopg.connect(server_url(), autocommit=True) as admin:
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
    else:
        assert isinstance(lock, FileLeaderLock)
        lock.release()


def _takes_over(standby: LeaderLock) -> float:
    """Seconds until `standby`, trying every RETRY seconds, holds the lock (fails past the bound)."""
    started = time.monotonic()
    while not standby.hold():
        assert standby.problem is None, standby.problem
        assert time.monotonic() - started < TAKEOVER_BOUND, "the standby never took the lock"
        time.sleep(RETRY)
    return time.monotonic() - started


def test_one_leads_the_other_waits(elector: Electors) -> None:
    leader, standby = elector(), elector()
    assert leader.hold() is True
    for _ in range(3):
        assert standby.hold() is False and standby.problem is None  # another holds it: no problem
        assert leader.hold() is True and leader.problem is None  # checked, still held


def test_the_standby_takes_over_when_the_leaders_connection_is_cut(elector: Electors) -> None:
    leader, standby = elector(), elector()
    assert leader.hold() and not standby.hold()
    _cut(leader)
    took = _takes_over(standby)
    assert took < TAKEOVER_BOUND
    # the former leader, checking before it acts, knows it no longer leads, and cannot take it back
    assert leader.hold() is False
    assert standby.hold() is True


def test_a_leader_that_releases_hands_over_and_may_lead_again(elector: Electors) -> None:
    first, second = elector(), elector()
    assert first.hold()
    first.release()
    assert second.hold() and not first.hold()
    second.release()
    assert first.hold()


@pytest.mark.postgres
def test_a_postgres_leader_sees_its_lost_session_and_says_why() -> None:
    """The database ended the leader's session: its next check answers False with the reason,
    and the one after reconnects and takes the lock again, free now."""
    lock = PostgresLeaderLock(require_server(), f"test-{os.urandom(4).hex()}", timeout_seconds=6)
    try:
        assert lock.hold()
        _cut(lock)
        time.sleep(0.2)
        assert lock.hold() is False and lock.problem
        assert lock.hold() is True and lock.problem is None
    finally:
        lock.release()


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["a", "e"])  # a key above zero, one below: pg_locks shows both unsigned
def test_a_postgres_leader_finds_its_lock_whatever_the_sign_of_its_key(name: str) -> None:
    lock = PostgresLeaderLock(require_server(), name, timeout_seconds=6)
    try:
        assert (lock.key > 0) is (name == "a")
        assert lock.hold() and lock.hold() and lock.problem is None  # taken, then found held
    finally:
        lock.release()


@pytest.mark.postgres
def test_a_postgres_lock_on_a_database_that_does_not_answer_says_so() -> None:
    lock = PostgresLeaderLock("postgresql://postgres@127.0.0.1:1/nothing", "test", timeout_seconds=3)
    started = time.monotonic()
    assert lock.hold() is False
    assert lock.problem and "OperationalError" in lock.problem
    assert time.monotonic() - started < 5


@pytest.mark.postgres
def test_the_lock_session_sets_keepalives_on_both_ends() -> None:
    """Over TCP, the server's end of the lock's session probes a silent peer (so the database frees
    the lock of a host that vanished) after about the timeout, and the holder's end gives up sooner."""
    server = require_server()
    lock = PostgresLeaderLock(server, f"test-{os.urandom(4).hex()}", timeout_seconds=15)
    try:
        assert lock.hold()
        expected = keepalive_settings(15)
        conn = lock._conn  # the lock's own session
        shown = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('tcp_keepalives_idle',"
                " 'tcp_keepalives_interval', 'tcp_keepalives_count', 'tcp_user_timeout')"
            ).fetchall()
        )
        if conn.info.host.startswith("/"):  # TCP settings read 0 there; CI's server is on 127.0.0.1
            missing("needs PostgreSQL over TCP: APPLIANCE_TEST_POSTGRES_URL names a unix socket")
        assert shown == {  # in pg_settings' units: seconds, and milliseconds for the user timeout
            "tcp_keepalives_idle": str(expected["keepalives_idle"]),
            "tcp_keepalives_interval": str(expected["keepalives_interval"]),
            "tcp_keepalives_count": str(expected["keepalives_count"]),
            "tcp_user_timeout": str(expected["tcp_user_timeout_ms"]),
        }
        total = expected["keepalives_idle"] + expected["keepalives_interval"] * expected["keepalives_count"]
        assert 15 <= total <= 18
        params = conn.info.get_parameters()
        assert params["keepalives"] == "1" and int(params["tcp_user_timeout"]) < expected["tcp_user_timeout_ms"]
        assert conn.execute("SHOW idle_session_timeout").fetchone()[0] == "0"
    finally:
        lock.release()


def test_a_file_lock_replaced_under_its_holder_is_given_up(tmp_path: Path) -> None:
    """Someone removed the lock file: another scheduler could lock a new one, so the holder steps down."""
    path = tmp_path / "appliance.db.scheduler.lock"
    leader, other = FileLeaderLock(path), FileLeaderLock(path)
    try:
        assert leader.hold() and not other.hold()
        path.unlink()
        assert leader.hold() is False and "removed or replaced" in (leader.problem or "")
        assert other.hold() is True
        assert path.read_text().split()[0] == str(os.getpid())  # who holds it, for a person looking
    finally:
        leader.release()
        other.release()


def test_the_sqlite_lock_lives_beside_the_database(tmp_path: Path) -> None:
    lock = open_leader_lock(f"sqlite:///{tmp_path / 'db' / 'appliance.db'}", "scheduler", timeout_seconds=15)
    assert isinstance(lock, FileLeaderLock) and lock.path == tmp_path / "db" / "appliance.db.scheduler.lock"
    try:
        assert lock.hold() and lock.path.is_file()
    finally:
        lock.release()


def test_lock_keys_are_stable_signed_64_bit_numbers() -> None:
    assert lock_key("scheduler") == lock_key("scheduler") != lock_key("other")
    assert -(2**63) <= lock_key("scheduler") < 2**63
