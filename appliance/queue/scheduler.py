"""The maintenance clock: enqueues the periodic jobs on the maintenance queue and records the
depth of every queue.

Any number of schedulers may run (`appliance scheduler`, one on each of several hosts, so that one
dying stops nothing): they elect one, which does the work, and the others wait to take over
(docs/scaling.md). The election is a lock only one process holds (`appliance.store.election`: a
PostgreSQL advisory lock held on a connection of its own, or a file lock beside a SQLite
database): a standby tries to take it every `scheduler.election_retry_seconds`, and the leader
checks that it still holds it before every turn of its clock and steps down when it does not (its
connection to the database broke). Were two ever to run the chores at once, each job would merely
be enqueued twice: the jobs are safe to run twice, since each re-reads the database. This
replaces Huey's periodic tasks, which every consumer would schedule on its own.

Every job is enqueued once when this scheduler takes the lead, then every
`SchedulerSettings.<job>_seconds` while it leads. The queue depths are sampled the same way,
every `queue_depth_sample_seconds`, by the scheduler itself rather than by a job: a sample is
taken on time even while the maintenance queue is backed up, and adds no task to the depths it
measures. Each sample is one row per queue in the database (`Store.record_queue_depths`), which
the console's statistics plot. The loop keeps only the next due time of each chore in memory, so
a restart or a takeover merely runs each chore early; the due times keep a steady rhythm (a chore
runs every interval, not an interval after it last finished), so one-minute samples fall one
into each minute.
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

from appliance.core.hosts import LEADER, SCHEDULER_PART, STANDBY, PartHeartbeat
from appliance.core.queues import Queues
from appliance.core.services import AppServices
from appliance.ops.settings import Settings
from appliance.ops.systemd import Watchdog, notify_ready, notify_status, notify_stopping
from appliance.store import DATABASE_AWAY, Store
from appliance.store.election import LeaderLock, open_leader_lock

__all__ = ["job_intervals", "run_scheduler"]

log = logging.getLogger(__name__)

#: How long a database call of the clock's loop (a heartbeat, a queue depth sample) keeps trying a
#: database that went away (docs/postgres-failover.md): far below the systemd watchdog's 30 s,
#: which that loop pings, so that a primary switch does not stall it into a restart.
DATABASE_RETRY_SECONDS = 5.0


def job_intervals(settings: Settings) -> dict[str, float]:
    """Seconds between two runs of each maintenance job."""
    return {
        "expire_analyses": settings.scheduler.expiry_check_seconds,
        "retry_webhooks": settings.scheduler.webhook_check_seconds,
        "retention": settings.scheduler.retention_check_seconds,
        "plugin_work": settings.scheduler.plugin_work_seconds,
        "sweep_orphans": settings.scheduler.orphan_sweep_seconds,
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


class _Election:
    """This scheduler's side of the election: whether it leads, what the log says when that changes."""

    def __init__(self, lock: LeaderLock, heartbeat: PartHeartbeat, store: Store, settings: Settings) -> None:
        self.lock, self.heartbeat, self.store = lock, heartbeat, store
        self.retry = settings.scheduler.election_retry_seconds
        self.where = f"on host {settings.hostname} (pid {heartbeat.pid})"
        self.leading = False
        self._said: str | None = None  # the last thing the log said about waiting, not to repeat it
        #: What this scheduler does, for systemd's STATUS: its schedule while it leads.
        self.status = "electing"

    def check(self, schedule: str) -> bool:
        """Take the lock if free, or check it is still held; True when this scheduler now leads
        and was not leading before (its chores are due at once, as after a restart)."""
        held = self.lock.hold()
        if held and not self.leading:
            self.leading, self._said = True, None
            log.info("this scheduler %s leads (%s): %s", self.where, self.lock.description, schedule)
            self.status = schedule
            self.heartbeat.beat(LEADER)
            try:
                self.store.step_down_others(
                    self.heartbeat.hostname, SCHEDULER_PART, self.heartbeat.pid, role=LEADER, instead=STANDBY
                )
            except DATABASE_AWAY:  # only the record of the former leader's role: the next beat rewrites it
                log.warning("could not record that the former leader no longer leads", exc_info=True)
            return True
        if not held and self.leading:
            self.leading = False
            why = self.lock.problem or "another scheduler holds the lock"
            log.warning("this scheduler %s steps down: %s; its chores stop until it leads again", self.where, why)
            self.heartbeat.beat(STANDBY)
        if not held:
            said = self.lock.problem or "another scheduler leads"
            if said != self._said:
                level = logging.INFO if self.lock.problem is None else logging.WARNING
                log.log(
                    level,
                    "this scheduler %s waits: %s; trying to take the lead every %g s",
                    self.where,
                    said,
                    self.retry,
                )
                self.status = f"standby: {said}; trying to take the lead every {self.retry:g} s"
                self._said = said
        return False


def run_scheduler(settings: Settings, stop: threading.Event | None = None, *, lock: LeaderLock | None = None) -> None:
    """Take part in the election of the scheduler (docs/scaling.md) and, while this one leads,
    enqueue the maintenance jobs and record the queue depths on schedule; until SIGINT, SIGTERM or
    `stop` is set. `lock`: the lock to lead by (default: the database's, `open_leader_lock`).

    A standby tries to take the lock every `scheduler.election_retry_seconds`; a leader checks it
    still holds it at every turn of its clock (at least as often), and steps down, its chores
    stopped, when it does not. Every scheduler registers as part of its host (`host_parts`), in
    its role, every `hosts.heartbeat_seconds`.

    Under systemd (docs/systemd.md) it says READY once its first try at the lock says whether it
    leads (STATUS: its schedule while it leads, `standby: ...` while it waits, updated as that
    changes), pings the watchdog from the clock's loop (waking at least as often as the watchdog
    needs) and says STOPPING at the end.
    """
    stop = stop or threading.Event()
    services = AppServices(
        settings, database_retry_seconds=min(settings.database.retry_seconds, DATABASE_RETRY_SECONDS)
    )
    lock = lock or open_leader_lock(
        settings.resolved_database_url, SCHEDULER_PART, timeout_seconds=settings.scheduler.election_timeout_seconds
    )
    heartbeat = services.heartbeat(SCHEDULER_PART, role=STANDBY)
    election = _Election(lock, heartbeat, services.store, settings)
    chores = _chores(settings, services.queues, services.store)
    next_due = [time.monotonic()] * len(chores)
    watchdog = Watchdog.from_environment()
    jobs = ", ".join(f"{name} every {s:g} s" for name, s in job_intervals(settings).items())
    schedule = (
        f"enqueueing {jobs}; recording the queue depths every {settings.scheduler.queue_depth_sample_seconds:g} s"
    )
    retry, beat_every = settings.scheduler.election_retry_seconds, settings.hosts.heartbeat_seconds
    log.info("scheduler started %s: one scheduler leads, any other waits (%s)", election.where, lock.description)
    said: str | None = None  # the STATUS systemd was last told
    next_try = next_beat = time.monotonic()
    try:
        with _stop_on_signals(stop):
            while not stop.is_set():
                watchdog.tick()
                now = time.monotonic()
                if election.leading or now >= next_try:
                    if election.check(schedule):
                        next_due = [now] * len(chores)
                        next_beat = now + beat_every  # check() recorded the new role
                    next_try = now + retry
                if said is None:  # READY once the first election has said whether this one leads
                    notify_ready(election.status)
                elif election.status != said:
                    notify_status(election.status)
                said = election.status
                if now >= next_beat:
                    heartbeat.beat()
                    next_beat = now + beat_every
                if election.leading:
                    _run_due(chores, next_due)
                wake = min(next_try, next_beat, *(next_due if election.leading else ()))
                stop.wait(watchdog.max_sleep(max(0.0, wake - time.monotonic())))
    finally:
        lock.release()
        services.close()
    notify_stopping()
    log.info("scheduler stopped")


def _run_due(chores: list[_Chore], next_due: list[float]) -> None:
    """Run every chore that is due, and set its next due time."""
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
