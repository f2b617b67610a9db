"""The maintenance clock: enqueues the periodic jobs on the maintenance queue and records the
depth of every queue.

Run exactly ONE scheduler per installation (`appliance scheduler`), however many hosts and
workers there are: a second one would only enqueue every job twice. (The jobs are safe to run
twice, since each re-reads the database, but it wastes work.) This replaces Huey's periodic
tasks, which every consumer would schedule on its own.

Every job is enqueued once at start, then every `SchedulerSettings.<job>_seconds`. The queue
depths are sampled the same way, every `queue_depth_sample_seconds`, by the scheduler itself
rather than by a job: a sample is taken on time even while the maintenance queue is backed up,
and adds no task to the depths it measures. Each sample is one row per queue in the database
(`Store.record_queue_depths`), which the console's statistics plot. The loop keeps only the
next due time of each chore in memory, so a restart merely runs each chore early; the due times
keep a steady rhythm (a chore runs every interval, not an interval after it last finished), so
one-minute samples fall one into each minute.
"""

from __future__ import annotations

import functools
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from appliance.ops.settings import Settings
from appliance.ops.systemd import Watchdog, notify_ready, notify_stopping
from appliance.queue.queues import Queues
from appliance.store import Store, open_store

__all__ = ["job_intervals", "run_scheduler"]

log = logging.getLogger(__name__)


def job_intervals(settings: Settings) -> dict[str, float]:
    """Seconds between two runs of each maintenance job."""
    return {
        "expire_analyses": settings.scheduler.expiry_check_seconds,
        "retry_webhooks": settings.scheduler.webhook_check_seconds,
        "retention": settings.scheduler.retention_check_seconds,
    }


@dataclass(frozen=True, slots=True)
class _Chore:
    """Something the clock does every `interval` seconds; `what` says it in the log."""

    what: str
    interval: float
    run: Callable[[], None]


def _record_queue_depths(queues: Queues, store: Store) -> None:
    store.record_queue_depths(queues.pending_counts(), datetime.now(UTC))


def _chores(settings: Settings, queues: Queues, store: Store) -> list[_Chore]:
    jobs = [
        _Chore(f"enqueue maintenance job {name}", interval, functools.partial(queues.enqueue_job, name))
        for name, interval in job_intervals(settings).items()
    ]
    sample = _Chore(
        "record the queue depths",
        settings.scheduler.queue_depth_sample_seconds,
        functools.partial(_record_queue_depths, queues, store),
    )
    return [*jobs, sample]


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set `stop` on SIGINT and SIGTERM while inside the block (main thread only: Python
    delivers signals there; elsewhere the caller stops the loop through the event)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_scheduler(settings: Settings, stop: threading.Event | None = None) -> None:
    """Enqueue the maintenance jobs and record the queue depths on schedule until SIGINT, SIGTERM
    or `stop` is set.

    Under systemd (docs/systemd.md) it says READY when its clock starts, pings the watchdog from
    the clock's loop (waking at least as often as the watchdog needs) and says STOPPING at the end.
    """
    stop = stop or threading.Event()
    queues = Queues(settings)
    store = open_store(settings.resolved_database_url)
    chores = _chores(settings, queues, store)
    next_due = [time.monotonic()] * len(chores)
    watchdog = Watchdog.from_environment()
    jobs = ", ".join(f"{name} every {s:g} s" for name, s in job_intervals(settings).items())
    schedule = (
        f"enqueueing {jobs}; recording the queue depths every {settings.scheduler.queue_depth_sample_seconds:g} s"
    )
    log.info("scheduler started: %s", schedule)
    notify_ready(schedule)
    try:
        with _stop_on_signals(stop):
            while not stop.is_set():
                watchdog.tick()
                for index, chore in enumerate(chores):
                    now = time.monotonic()
                    if next_due[index] > now:
                        continue
                    following = next_due[index] + chore.interval
                    next_due[index] = following if following > now else now + chore.interval  # late: skip, no burst
                    try:
                        chore.run()
                    except Exception:
                        # The queue storage or the database is down (Redis restarting, disk full):
                        # say so, keep the clock running and try again at the next tick instead of dying.
                        log.exception("could not %s; next try in %g s", chore.what, chore.interval)
                stop.wait(watchdog.max_sleep(max(0.0, min(next_due) - time.monotonic())))
    finally:
        store.close()
    notify_stopping()
    log.info("scheduler stopped")
