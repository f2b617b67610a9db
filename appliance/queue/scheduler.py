"""The maintenance clock: enqueues the periodic jobs on the maintenance queue.

Run exactly ONE scheduler per installation (`appliance scheduler`), however many hosts and
workers there are: a second one would only enqueue every job twice. (The jobs are safe to run
twice, since each re-reads the database, but it wastes work.) This replaces Huey's periodic
tasks, which every consumer would schedule on its own.

Every job is enqueued once at start, then every `SchedulerSettings.<job>_seconds`. The loop
keeps only the next due time of each job in memory, so a restart merely runs each job early.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from appliance.ops.settings import Settings
from appliance.ops.systemd import Watchdog, notify_ready, notify_stopping
from appliance.queue.queues import Queues

__all__ = ["job_intervals", "run_scheduler"]

log = logging.getLogger(__name__)


def job_intervals(settings: Settings) -> dict[str, float]:
    """Seconds between two runs of each maintenance job."""
    return {
        "expire_analyses": settings.scheduler.expiry_check_seconds,
        "retry_webhooks": settings.scheduler.webhook_check_seconds,
        "retention": settings.scheduler.retention_check_seconds,
    }


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
    """Enqueue the maintenance jobs on schedule until SIGINT, SIGTERM or `stop` is set.

    Under systemd (docs/systemd.md) it says READY when its clock starts, pings the watchdog from
    the clock's loop (waking at least as often as the watchdog needs) and says STOPPING at the end.
    """
    stop = stop or threading.Event()
    queues = Queues(settings)
    intervals = job_intervals(settings)
    next_due = dict.fromkeys(intervals, time.monotonic())
    watchdog = Watchdog.from_environment()
    schedule = ", ".join(f"{name} every {s:g} s" for name, s in intervals.items())
    log.info("scheduler started: %s", schedule)
    notify_ready(f"enqueueing {schedule}")
    with _stop_on_signals(stop):
        while not stop.is_set():
            watchdog.tick()
            for name, interval in intervals.items():
                now = time.monotonic()
                if next_due[name] > now:
                    continue
                next_due[name] = now + interval
                try:
                    queues.enqueue_job(name)
                except Exception:
                    # The queue storage is down (Redis restarting, disk full): say so, keep the
                    # clock running and try again at the next tick instead of dying.
                    log.exception("could not enqueue maintenance job %s; next try in %g s", name, interval)
            stop.wait(watchdog.max_sleep(max(0.0, min(next_due.values()) - time.monotonic())))
    notify_stopping()
    log.info("scheduler stopped")
