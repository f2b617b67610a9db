"""Running the consumer of one queue (what the CLI's worker command runs).

Each queue gets its own consumer process (and unit), so the number and kind of workers can
follow the work: CPU-bound analyses run in worker *processes* (one model instance each, no GIL
contention), the rest (HTTP calls, small database writes, thumbnails) in threads.

Periodic tasks are off in every consumer: Huey would run a scheduler per consumer and enqueue
each job once per consumer. Maintenance jobs come from `appliance scheduler` instead
(`scheduler.py`), of which an installation runs exactly one. Huey's own scheduler still runs in
each consumer: it moves delayed tasks (analysis retries) into the queue when they are due.
"""

from __future__ import annotations

from typing import Any

from huey.api import Huey
from huey.consumer import Consumer

from appliance.core.hosts import PartHeartbeat, worker_part
from appliance.core.queues import QUEUE_NAMES, Queues, TaskBodies
from appliance.ops import metrics
from appliance.ops.settings import Settings
from appliance.ops.systemd import Watchdog, notify_ready, notify_stopping
from appliance.queue import jobs, tasks
from appliance.queue.context import configure
from appliance.store import open_store

__all__ = ["ServiceConsumer", "run_worker", "worker_type_for"]

#: What the workers run for each task, bound by reference.
TASK_BODIES = TaskBodies(
    run_analyses=tasks.run_analyses,
    resolve_folder=tasks.resolve_folder,
    make_preview=tasks.make_preview,
    deliver_webhook=tasks.deliver_webhook,
    run_job=jobs.run_job,
)

#: How long an idle worker first waits before polling again, and the most it waits. SQLite
#: storage cannot block on an empty queue, so without a small maximum an idle worker would
#: notice a new task only after up to 10 s (Huey's default). Redis blocks and is not affected.
POLL_INITIAL_DELAY_SECONDS = 0.05
POLL_MAX_DELAY_SECONDS = 0.1


def worker_type_for(queue_name: str) -> str:
    """Huey worker type of a queue: processes for the CPU-bound analyses, threads for the rest."""
    return "process" if queue_name == "analysis" else "thread"


class ServiceConsumer(Consumer):
    """Huey's consumer, telling systemd (when it runs under it, docs/systemd.md) that it consumes
    once its workers are started, that its main loop is alive (the loop wakes every 0.1 s and
    restarts dead workers), and that it stops."""

    def __init__(self, huey: Huey, *, status: str, **options: Any) -> None:
        super().__init__(huey, **options)
        self.status = status
        self.watchdog = Watchdog.from_environment()

    def start(self) -> None:
        super().start()
        notify_ready(self.status)

    def loop(self, health_check_ts: float | None = None) -> float | None:
        health_check_ts = super().loop(health_check_ts)  # raises ConsumerStopped when told to stop
        self.watchdog.tick()
        return health_check_ts

    def stop(self, graceful: bool = False) -> None:
        notify_stopping("stopping: finishing running tasks" if graceful else "stopping")
        super().stop(graceful)


def _count_workers(huey: Huey, queue_name: str) -> None:
    """Each worker (a thread, or a forked process) counts itself in `appliance_workers` while it
    runs; one killed before its shutdown hook stops counting at the next scrape (ops/metrics_files.py)."""
    running = metrics.WORKERS.labels(queue_name)
    huey.on_startup("count_worker")(running.inc)
    huey.on_shutdown("count_worker")(running.dec)


def run_worker(settings: Settings, queue_name: str, workers: int) -> None:
    """Consume `queue_name` with `workers` workers until SIGINT (finish running tasks) or SIGTERM.

    Raises ValueError for an unknown queue name or a worker count below 1.
    """
    if queue_name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue_name!r}; the queues are: {', '.join(QUEUE_NAMES)}")
    if workers < 1:
        raise ValueError(f"a worker needs at least 1 worker thread or process, got {workers}")
    # Tasks build their services lazily from these settings, in each worker process.
    configure(settings)
    worker_type = worker_type_for(queue_name)
    consumer = ServiceConsumer(
        Queues(settings, TASK_BODIES).huey(queue_name),
        status=f"consuming queue {queue_name} with {workers} {worker_type} worker(s)",
        workers=workers,
        worker_type=worker_type,
        periodic=False,
        initial_delay=POLL_INITIAL_DELAY_SECONDS,
        max_delay=POLL_MAX_DELAY_SECONDS,
        check_worker_health=True,
    )
    _count_workers(consumer.huey, queue_name)
    # This consumer's registration (`host_parts`), beaten from a thread of the consumer's own
    # process on a store of its own: its worker processes build their own services after the fork.
    store = open_store(settings.resolved_database_url)
    heartbeat = PartHeartbeat(store, settings.hostname, worker_part(queue_name), settings.hosts).start()
    try:
        consumer.run()
    finally:
        heartbeat.stop()
        store.close()
