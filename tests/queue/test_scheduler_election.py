"""Two schedulers of one installation (docs/scaling.md), as two threads of this process on their own
connections and under two host names: one leads and enqueues the jobs, the other waits; when the
leader's lock goes (its database session ended, or its process stopped), the other leads within
the retry interval and enqueues every job at once. On SQLite with the local queue files, and on
PostgreSQL with Redis."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import psycopg
import pytest

from appliance.core.queues import Queues
from appliance.ops.settings import HostSettings, SchedulerSettings, Settings
from appliance.queue.scheduler import run_scheduler
from appliance.store import open_store
from appliance.store.election import LeaderLock, PostgresLeaderLock, open_leader_lock
from appliance.store.protocol import HostPart
from tests.queue.conftest import INSTALLATIONS, migrated_installation
from tests.support.postgres import server_url

#: Jobs every hour: each is enqueued only when a scheduler takes the lead.
HOURLY = {
    "expiry_check_seconds": 3600,
    "webhook_check_seconds": 3600,
    "retention_check_seconds": 3600,
    "plugin_work_seconds": 3600,
    "orphan_sweep_seconds": 3600,
    "queue_depth_sample_seconds": 3600,
}
RETRY = 0.5
#: A standby sees the lock free within one retry; the rest is slack for a loaded test machine.
TAKEOVER_BOUND = RETRY + 1.5


@pytest.fixture(params=INSTALLATIONS)
def installation(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings of a migrated installation whose schedulers retry every RETRY s and beat every 0.2 s."""
    base = Settings(
        data_dir=str(tmp_path / "data"),
        scheduler=SchedulerSettings(election_retry_seconds=RETRY, **HOURLY),
        hosts=HostSettings(heartbeat_seconds=0.2, stale_heartbeats=5),
    )
    with migrated_installation(request, base) as settings:
        yield settings


@dataclass
class Scheduler:
    """One `run_scheduler` in a thread, under its own host name, with its lock at hand."""

    hostname: str
    lock: LeaderLock
    thread: threading.Thread
    stop: threading.Event = field(default_factory=threading.Event)

    def end(self) -> None:
        self.stop.set()
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def start(installation: Settings) -> Iterator[Callable[[str], Scheduler]]:
    started: list[Scheduler] = []

    def start(hostname: str) -> Scheduler:
        settings = msgspec.structs.replace(installation, host_name=hostname)
        lock = open_leader_lock(settings.resolved_database_url, "scheduler", timeout_seconds=15)
        stop = threading.Event()
        thread = threading.Thread(
            target=run_scheduler, args=(settings, stop), kwargs={"lock": lock}, name=f"scheduler-{hostname}"
        )
        scheduler = Scheduler(hostname, lock, thread, stop)
        started.append(scheduler)
        thread.start()
        return scheduler

    yield start
    for scheduler in started:
        scheduler.end()


def _roles(settings: Settings) -> dict[str, str | None]:
    store = open_store(settings.resolved_database_url)
    try:
        return {p.hostname: p.role for p in store.list_host_parts() if p.part == "scheduler"}
    finally:
        store.close()


def _parts(settings: Settings) -> list[HostPart]:
    store = open_store(settings.resolved_database_url)
    try:
        return store.list_host_parts()
    finally:
        store.close()


def _wait(what: str, condition: Callable[[], bool], timeout: float = 10.0) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"timed out waiting until {what}"
        time.sleep(0.02)
    return time.monotonic() - started


def _retentions(queues: Queues) -> int:
    """How many times a scheduler took the lead: each enqueues `retention` (hourly) at once."""
    return [task.args[0] for task in queues.huey("maintenance").pending()].count("retention")


def test_one_scheduler_leads_and_the_other_takes_over_when_its_lock_goes(
    installation: Settings, start: Callable[[str], Scheduler], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="appliance.queue.scheduler")
    queues = Queues(installation)
    first = start("node-a")
    _wait("node-a leads", lambda: _roles(installation) == {"node-a": "leader"})
    second = start("node-b")
    _wait("node-b waits", lambda: _roles(installation) == {"node-a": "leader", "node-b": "standby"})
    time.sleep(3 * RETRY)  # node-b tries the lock a few times meanwhile
    assert _roles(installation) == {"node-a": "leader", "node-b": "standby"}
    assert _retentions(queues) == 1, "only the leader enqueued the jobs"

    if isinstance(first.lock, PostgresLeaderLock):  # the leader's database session ends
        pid = first.lock.backend_pid()
        with psycopg.connect(server_url(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    else:  # SQLite: the leader stops, which drops its file lock as a dying process would
        first.end()
    took = _wait("node-b leads", lambda: _roles(installation).get("node-b") == "leader")
    print(f"takeover after {took:.2f} s (retry every {RETRY} s)")
    assert took < TAKEOVER_BOUND
    _wait("node-b enqueued every job at once", lambda: _retentions(queues) == 2, timeout=TAKEOVER_BOUND)
    if first.thread.is_alive():  # the former leader stepped down, and waits
        _wait("node-a stands by", lambda: _roles(installation) == {"node-a": "standby", "node-b": "leader"})
        time.sleep(3 * RETRY)
        assert _roles(installation) == {"node-a": "standby", "node-b": "leader"}
        assert _retentions(queues) == 2, "the former leader enqueued nothing more"
    second.end()

    said = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("this scheduler on host node-a") and " leads (" in m for m in said), said
    assert any(m.startswith("this scheduler on host node-b") and " waits: another scheduler leads" in m for m in said)
    assert any(m.startswith("this scheduler on host node-b") and " leads (" in m for m in said), said
    if isinstance(first.lock, PostgresLeaderLock):
        assert any(m.startswith("this scheduler on host node-a") and " steps down: " in m for m in said), said


def test_every_scheduler_beats_in_its_role(installation: Settings, start: Callable[[str], Scheduler]) -> None:
    start("node-a")
    _wait("node-a leads", lambda: _roles(installation) == {"node-a": "leader"})
    start("node-b")
    _wait("node-b registers", lambda: "node-b" in _roles(installation))
    before = {p.hostname: p.time_seen for p in _parts(installation)}
    time.sleep(0.6)  # three heartbeats
    after = {p.hostname: p for p in _parts(installation)}
    assert all(after[h].time_seen > before[h] for h in ("node-a", "node-b")), (before, after)
    assert {p.part for p in after.values()} == {"scheduler"}
    assert after["node-a"].time_started <= after["node-a"].time_seen
