"""The PostgreSQL backend when its server goes away (docs/postgres-failover.md), on the test server:
connections killed while idle in the pool or in the middle of a statement, a server that takes no
writes, a database that refuses connections for a while, and one that is not there at all.

tests/e2e/test_pg_failover.py does the same with a real primary switch (Patroni).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest

from appliance.domain.errors import ErrorCode
from appliance.store import DatabaseUnavailable, postgres_hosts
from appliance.store.postgres import PostgresBackend, is_read
from tests.support.live import free_port
from tests.support.postgres import create_database, drop_database, require_server

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    server = require_server()
    url = create_database(server, prefix="failover_unit")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE items (id int PRIMARY KEY, note text)")
    yield url
    drop_database(url, server)


@pytest.fixture
def backend(database: str) -> Iterator[PostgresBackend]:
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DELETE FROM items")
    backend = PostgresBackend(database, retry_seconds=10, connect_timeout_seconds=2)
    yield backend
    backend.close()


def _terminate(database: str, *, running: str | None = None) -> int:
    """Terminate the backend's server connections to `database` (those running `running`, else all)
    from a connection of the test's own; how many went."""
    name = database.rsplit("/", 1)[1]
    with psycopg.connect(database, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid() AND (%s::text IS NULL OR query LIKE %s)",
            (name, running, f"%{running}%"),
        ).fetchall()
    return len(rows)


def _when_running(database: str, text: str, timeout: float = 10.0) -> None:
    """Wait until a server connection runs a statement containing `text`, then terminate it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _terminate(database, running=text):
            return
        time.sleep(0.02)
    raise AssertionError(f"no statement with {text!r} ran")


def test_connections_killed_while_idle_are_replaced_without_an_error(backend: PostgresBackend, database: str) -> None:
    threads = [threading.Thread(target=backend.fetch, args=("SELECT pg_sleep(0.2)",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _terminate(database) >= 2  # the pool holds several connections, all killed now
    backend.execute("INSERT INTO items (id) VALUES (1)")
    assert backend.fetch("SELECT id FROM items") == [{"id": 1}]


def test_a_read_whose_connection_dies_while_it_runs_is_run_again(backend: PostgresBackend, database: str) -> None:
    killer = threading.Thread(target=_when_running, args=(database, "pg_sleep(0.5)"))
    killer.start()
    rows = backend.fetch("SELECT 7 AS n FROM pg_sleep(0.5)")
    killer.join()
    assert rows == [{"n": 7}]


def test_a_write_whose_connection_dies_while_it_runs_is_not_run_again(backend: PostgresBackend, database: str) -> None:
    killer = threading.Thread(target=_when_running, args=(database, "pg_sleep(0.5)"))
    killer.start()
    with pytest.raises(DatabaseUnavailable) as raised:
        backend.execute("INSERT INTO items (id, note) SELECT 2, 'once' FROM pg_sleep(0.5)")
    killer.join()
    assert raised.value.code is ErrorCode.SERVICE_UNAVAILABLE
    assert "may or may not have gone through" in raised.value.message and raised.value.in_doubt
    assert backend.fetch("SELECT count(*) AS n FROM items") == [{"n": 0}]  # killed before its commit; not sent again


def test_a_transaction_whose_connection_dies_rolls_back_and_says_so(backend: PostgresBackend, database: str) -> None:
    with pytest.raises(DatabaseUnavailable) as raised:
        with backend.transaction():
            backend.execute("INSERT INTO items (id) VALUES (3)")
            _terminate(database)
            backend.execute("INSERT INTO items (id) VALUES (4)")
    assert raised.value.details is not None and raised.value.details["retry_after_seconds"] == 10
    assert backend.fetch("SELECT count(*) AS n FROM items") == [{"n": 0}]
    with backend.transaction():  # the next one gets a sound connection
        backend.execute("INSERT INTO items (id) VALUES (5)")
    assert backend.fetch("SELECT id FROM items") == [{"id": 5}]


def test_a_transaction_run_as_work_is_run_again_when_its_connection_dies(
    backend: PostgresBackend, database: str
) -> None:
    runs = []

    def work() -> int:
        runs.append(1)
        backend.execute("INSERT INTO items (id) VALUES (10)")
        if len(runs) == 1:
            _terminate(database)  # the connection dies under the transaction, which rolls back
        backend.execute("INSERT INTO items (id) VALUES (11)")
        return len(runs)

    assert backend.run_transaction(work) == 2
    assert backend.fetch("SELECT id FROM items ORDER BY id") == [{"id": 10}, {"id": 11}]
    with backend.transaction():  # inside an open transaction, the owner of that one decides
        assert backend.run_transaction(lambda: backend.execute("INSERT INTO items (id) VALUES (12)")) == 1


def test_a_transaction_run_as_work_gives_up_when_the_patience_runs_out(database: str) -> None:
    backend = PostgresBackend(database, retry_seconds=1.0, connect_timeout_seconds=1)
    runs = []

    def work() -> None:
        runs.append(1)
        _terminate(database)
        backend.execute("INSERT INTO items (id) VALUES (13)")

    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            backend.run_transaction(work)
        assert not raised.value.in_doubt
        assert len(runs) >= 2
        assert backend.fetch("SELECT count(*) AS n FROM items WHERE id = 13") == [{"n": 0}]
    finally:
        backend.close()


def test_a_server_that_takes_no_writes_is_tried_until_the_patience_runs_out(database: str) -> None:
    """A standby, or a primary demoted under the appliance: every write refused, each connection
    dropped (not borrowed again), and after `retry_seconds` SERVICE_UNAVAILABLE, not a driver error."""
    read_only = f"{database}?options=-c%20default_transaction_read_only%3Don"
    backend = PostgresBackend(read_only, retry_seconds=1.0, connect_timeout_seconds=1)
    try:
        assert backend.fetch("SELECT 1 AS one") == [{"one": 1}]
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as raised:
            backend.execute("INSERT INTO items (id) VALUES (6)")
        assert 0.5 < time.monotonic() - started < 5
        assert "ReadOnlySqlTransaction" in raised.value.message
    finally:
        backend.close()


def test_a_database_that_refuses_connections_for_a_while_is_waited_for(backend: PostgresBackend, database: str) -> None:
    """What a primary switch looks like from here: the connections die, new ones are refused for
    a few seconds, then taken again; a write issued meanwhile goes through once they are."""
    name = database.rsplit("/", 1)[1]
    server = require_server()

    def allow(allowed: bool) -> None:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(allowed).lower()}')

    backend.fetch("SELECT 1")
    allow(False)
    try:
        _terminate_from(server, name)
        reopen = threading.Timer(1.5, allow, args=(True,))
        reopen.start()
        started = time.monotonic()
        backend.execute("INSERT INTO items (id) VALUES (7)")
        waited = time.monotonic() - started
        reopen.join()
    finally:
        allow(True)
    assert 1.4 < waited < 8
    assert backend.fetch("SELECT id FROM items") == [{"id": 7}]


def _terminate_from(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def test_no_server_at_all_is_service_unavailable_after_the_patience() -> None:
    backend = PostgresBackend(
        f"postgresql://postgres@127.0.0.1:{free_port()}/none", retry_seconds=1.0, connect_timeout_seconds=1
    )
    try:
        started = time.monotonic()
        with pytest.raises(DatabaseUnavailable) as raised:
            backend.fetch("SELECT 1")
        assert time.monotonic() - started < 5
        assert raised.value.details == {"service": "database", "retry_after_seconds": 1}
        with pytest.raises(DatabaseUnavailable):
            backend.ping()
    finally:
        backend.close()


def test_a_multi_host_url_reaches_the_server_that_takes_writes(database: str) -> None:
    """libpq's multi-host form: the first host listed is down, the second is the server."""
    server = require_server()
    (host, port), name = postgres_hosts(server)[0], database.rsplit("/", 1)[1]
    credentials = server.split("//", 1)[1].rpartition("@")[0]
    url = f"postgresql://{credentials}@127.0.0.1:{free_port()},{host}:{port}/{name}?target_session_attrs=read-write"
    backend = PostgresBackend(url, retry_seconds=5)
    try:
        backend.execute("INSERT INTO items (id) VALUES (8)")
        assert backend.fetch("SELECT id FROM items WHERE id = 8") == [{"id": 8}]
    finally:
        backend.close()


@pytest.mark.parametrize(
    ("url", "hosts"),
    [
        ("postgresql://u:p@h1:5433,h2/db?target_session_attrs=read-write", [("h1", 5433), ("h2", 5432)]),
        ("postgres://[::1]:6000,10.0.0.2:6001/db", [("::1", 6000), ("10.0.0.2", 6001)]),
        ("postgresql://u@/db?host=/run/postgresql&port=5434", [("/run/postgresql", 5434)]),
        ("postgresql://u@/db?host=a,b&port=7000", [("a", 7000), ("b", 7000)]),
        ("postgresql:///db", [("", 5432)]),
        ("sqlite:///var/a.db", []),
    ],
)
def test_the_hosts_of_a_database_url(url: str, hosts: list[tuple[str, int]]) -> None:
    assert postgres_hosts(url) == hosts


def test_what_counts_as_a_read() -> None:
    assert is_read("SELECT 1") and is_read("  select * from x") and is_read("WITH a AS (SELECT 1) SELECT * FROM a")
    assert not is_read("WITH a AS (DELETE FROM x RETURNING *) SELECT * FROM a")
    assert not is_read("UPDATE x SET a = 1 RETURNING *") and not is_read("INSERT INTO x VALUES (1)")
