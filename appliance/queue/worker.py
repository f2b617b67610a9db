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

from appliance.ops.settings import Settings
from appliance.queue.context import configure
from appliance.queue.queues import QUEUE_NAMES, Queues

__all__ = ["run_worker", "worker_type_for"]

#: How long an idle worker first waits before polling again, and the most it waits. SQLite
#: storage cannot block on an empty queue, so without a small maximum an idle worker would
#: notice a new task only after up to 10 s (Huey's default). Redis blocks and is not affected.
POLL_INITIAL_DELAY_SECONDS = 0.05
POLL_MAX_DELAY_SECONDS = 0.5


def worker_type_for(queue_name: str) -> str:
    """Huey worker type of a queue: processes for the CPU-bound analyses, threads for the rest."""
    return "process" if queue_name == "analysis" else "thread"


def run_worker(settings: Settings, queue_name: str, workers: int) -> None:
    """Consume `queue_name` with `workers` workers until SIGINT (finish running tasks) or SIGTERM.

    Raises ValueError for an unknown queue name or a worker count below 1.
    """
    if queue_name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {queue_name!r}; the queues are: {', '.join(QUEUE_NAMES)}")
    if workers < 1:
        raise ValueError(f"a worker needs at least 1 worker thread or process, got {workers}")
    # Tasks build their WorkerContext lazily from these settings, in each worker process.
    configure(settings)
    consumer = (
        Queues(settings)
        .huey(queue_name)
        .create_consumer(
            workers=workers,
            worker_type=worker_type_for(queue_name),
            periodic=False,
            initial_delay=POLL_INITIAL_DELAY_SECONDS,
            max_delay=POLL_MAX_DELAY_SECONDS,
            check_worker_health=True,
        )
    )
    consumer.run()
