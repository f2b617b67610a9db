"""The appliance's Huey queues: one Huey instance (and one consumer) per queue.

Separate queues let a slow analysis backlog never delay a webhook or a preview, and let each
queue get its own worker count and worker type. Storage follows the settings: one SQLite file
per queue under `Settings.queue_sqlite_path` (one host), or Redis (`PriorityRedisHuey`, the Redis
storage that accepts priorities; plain `RedisHuey` refuses them).

Building a `Queues` opens no database and loads no plugin: the API process builds one just to
enqueue. The task bodies live in `appliance.queue.tasks` and `appliance.queue.jobs`, above this
core: a worker binds them by reference (`TaskBodies`) to the queues it consumes. A process that
only enqueues binds none, and a task it ran by mistake would say so.

A queued message names its task as `<TASK_NAMESPACE>.<task name>`, so those names are part of the
queue's format: a message queued before an upgrade must still find its task after it. They were
first given by a module `appliance.queue.queues`, and stay so wherever the code lives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from huey import PriorityRedisHuey, SqliteHuey
from huey.api import Huey, TaskWrapper

from appliance.ops.settings import Settings

__all__ = ["JOB_NAMES", "QUEUE_NAMES", "TASK_NAMESPACE", "Queues", "TaskBodies", "TaskNotBound"]

QUEUE_NAMES = ("default", "maintenance", "analysis", "resolution", "preview")

#: The first part of every task name a queued message carries (see the module's docstring).
TASK_NAMESPACE = "appliance.queue.queues"

#: Maintenance jobs (`appliance.queue.jobs`), enqueued by the scheduler.
JOB_NAMES = ("expire_analyses", "retry_webhooks", "retention", "plugin_work", "sweep_orphans")


@dataclass(frozen=True, slots=True)
class TaskBodies:
    """What a worker runs for each task: the functions themselves (appliance.queue.worker binds those
    of appliance.queue.tasks and appliance.queue.jobs)."""

    #: The analyses a folder asked for together, one after another (Huey task `run_analysis`).
    run_analyses: Callable[..., None]
    resolve_folder: Callable[[str], None]
    make_preview: Callable[[str], None]
    deliver_webhook: Callable[[str], None]
    run_job: Callable[[str], None]


class TaskNotBound(RuntimeError):
    """A process that only enqueues was asked to run a task."""


def _unbound(name: str) -> Callable[..., None]:
    def refuse(*args: Any) -> None:
        raise TaskNotBound(f"task {name} runs on a worker; this process enqueues only (no task bodies bound)")

    return refuse


def _make_huey(settings: Settings, queue: str) -> Huey:
    name = f"{settings.queue.name_prefix}-{queue}"
    if settings.queue.backend == "redis":
        return PriorityRedisHuey(name=name, url=settings.queue.redis_url, results=False, utc=True)
    directory = settings.queue_sqlite_path
    directory.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name=name, filename=str(directory / f"{queue}.db"), results=False, utc=True)


class Queues:
    """The queues of one installation, with a typed `enqueue_*` method per task."""

    def __init__(self, settings: Settings, bodies: TaskBodies | None = None) -> None:
        """The queues of `settings`, running `bodies` when a consumer takes their tasks (a worker);
        without them, for enqueueing only."""
        self._hueys = {queue: _make_huey(settings, queue) for queue in QUEUE_NAMES}

        def task(queue: str, name: str, body: Callable[[TaskBodies], Callable[..., None]]) -> TaskWrapper:
            register = self._hueys[queue].task(name=name, __module__=TASK_NAMESPACE)
            return register(body(bodies) if bodies is not None else _unbound(name))

        # `run_analysis` is the task's first name, which queued messages carry; it now takes several ids.
        self._run_analyses = task("analysis", "run_analysis", lambda b: b.run_analyses)
        self._resolve_folder = task("resolution", "resolve_folder", lambda b: b.resolve_folder)
        self._make_preview = task("preview", "make_preview", lambda b: b.make_preview)
        self._deliver_webhook = task("default", "deliver_webhook", lambda b: b.deliver_webhook)
        self._run_job = task("maintenance", "run_job", lambda b: b.run_job)

    def huey(self, queue_name: str) -> Huey:
        """The Huey instance of `queue_name` (what a consumer runs). KeyError for an unknown name."""
        return self._hueys[queue_name]

    def enqueue_analyses(self, analysis_ids: Sequence[str], delay: float = 0.0) -> None:
        """One task that runs these analyses one after another, in one worker (`tasks.run_analyses`)."""
        if delay > 0:
            self._run_analyses.schedule(args=tuple(analysis_ids), delay=delay)
        else:
            self._run_analyses(*analysis_ids)

    def enqueue_analysis(self, analysis_id: str, delay: float = 0.0) -> None:
        self.enqueue_analyses([analysis_id], delay)

    def enqueue_resolve(self, folder_id: str) -> None:
        self._resolve_folder(folder_id)

    def enqueue_preview(self, media_id: str) -> None:
        self._make_preview(media_id)

    def enqueue_webhook(self, delivery_id: str) -> None:
        self._deliver_webhook(delivery_id)

    def enqueue_job(self, name: str) -> None:
        if name not in JOB_NAMES:
            raise ValueError(f"unknown maintenance job {name!r}; known: {', '.join(JOB_NAMES)}")
        self._run_job(name)

    def queued_analysis_ids(self) -> set[str]:
        """Ids of the analyses whose task waits in the analysis queue, or in its schedule (a
        delayed retry). A task a worker holds in memory is in neither (see `jobs.expire_analyses`)."""
        huey = self._hueys["analysis"]
        return {str(analysis_id) for task in (*huey.pending(), *huey.scheduled()) for analysis_id in task.args}

    def pending_counts(self) -> dict[str, int]:
        """Tasks waiting in each queue (not counting delayed tasks a worker has moved to the schedule)."""
        return {queue: huey.pending_count() for queue, huey in self._hueys.items()}

    def analysis_depth(self) -> int:
        """Tasks waiting in the analysis queue (what admission control weighs, `queue.admission_depth`)."""
        return self._hueys["analysis"].pending_count()

    def ping(self) -> None:
        """Raise if the storage of any queue does not answer."""
        self.pending_counts()
