"""The scheduler records the depth of every queue: real queues (SQLite files, or Redis) and a real
database (SQLite, or PostgreSQL), the scheduler's own loop running in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance.core.queues import QUEUE_NAMES, Queues
from appliance.ops.settings import SchedulerSettings, Settings
from appliance.queue.scheduler import run_scheduler
from appliance.store import Store, open_store
from tests.queue.conftest import INSTALLATIONS, migrated_installation

#: Jobs every hour: only their first enqueueing, at the scheduler's start, happens in a test.
HOURLY_JOBS = {"expiry_check_seconds": 3600, "webhook_check_seconds": 3600, "retention_check_seconds": 3600}
WAIT_SECONDS = 30
#: Samples as read back: (time, queue -> depth), oldest first.
Samples = list[tuple[datetime, dict[str, int]]]


@pytest.fixture(params=INSTALLATIONS)
def installation(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """Settings of an installation with a migrated database, sampling every 0.2 s: SQLite with
    the local queue files, or PostgreSQL with Redis."""
    scheduler = SchedulerSettings(queue_depth_sample_seconds=0.2, **HOURLY_JOBS)
    with migrated_installation(request, Settings(data_dir=str(tmp_path / "data"), scheduler=scheduler)) as settings:
        yield settings


def recorded(store: Store) -> Samples:
    """Every sample the scheduler wrote, oldest first: (time, queue -> depth)."""
    db = store.backend
    samples: dict[datetime, dict[str, int]] = {}
    for row in db.fetch("SELECT time_sampled, queue, depth FROM queue_depth_samples ORDER BY time_sampled, queue"):
        samples.setdefault(db.decode_time(row["time_sampled"]), {})[row["queue"]] = row["depth"]
    return list(samples.items())


def wait_for_sample(store: Store, condition: str, test: Callable[[Samples], bool]) -> Samples:
    """Poll the table until `test(samples)` holds; fail naming `condition` if it never does."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        samples = recorded(store)
        if test(samples):
            return samples
        time.sleep(0.05)
    pytest.fail(f"no sample {condition} within {WAIT_SECONDS} s: {recorded(store)}")


def test_the_scheduler_records_every_queue_s_depth_as_it_changes(installation: Settings) -> None:
    queues = Queues(installation)
    for analysis_id in ("a1", "a2", "a3"):
        queues.enqueue_analysis(analysis_id)
    queues.enqueue_preview("m1")
    store = open_store(installation.resolved_database_url)
    stop = threading.Event()
    started = datetime.now(UTC)
    thread = threading.Thread(target=run_scheduler, args=(installation, stop))
    thread.start()
    try:
        (first_time, first), *_ = wait_for_sample(store, "at all", lambda samples: len(samples) >= 1)
        # the jobs are enqueued first at the start, then the depths read: the maintenance queue holds them
        assert first == {"default": 0, "maintenance": 5, "analysis": 3, "resolution": 0, "preview": 1}
        queues.enqueue_analysis("a4")
        queues.enqueue_analysis("a5")
        later = wait_for_sample(store, "of the two new analyses", lambda s: s[-1][1]["analysis"] == 5)
    finally:
        stop.set()
        thread.join(10)
        store.close()
    assert not thread.is_alive()
    times = [t for t, _ in later]
    assert started <= first_time and times == sorted(times) and times[-1] <= datetime.now(UTC)
    assert all(set(depths) == set(QUEUE_NAMES) for _, depths in later)
    assert later[-1][1] == {"default": 0, "maintenance": 5, "analysis": 5, "resolution": 0, "preview": 1}


def test_the_clock_keeps_going_while_the_database_refuses_samples(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A database without the table (never migrated): the failure is logged, the jobs are still enqueued."""
    settings = Settings(
        data_dir=str(tmp_path / "data"),
        scheduler=SchedulerSettings(queue_depth_sample_seconds=0.1, expiry_check_seconds=0.1),
    )
    queues = Queues(settings)
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler, args=(settings, stop))
    thread.start()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while queues.pending_counts()["maintenance"] < 6 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert queues.pending_counts()["maintenance"] >= 6  # five jobs at the start, then expire_analyses again
    failures = [r for r in caplog.records if r.getMessage().startswith("could not record the queue depths")]
    assert len(failures) >= 2 and all(r.exc_info for r in failures)
