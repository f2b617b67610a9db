"""The appliance's Huey queues: one Huey instance (and one consumer) per queue.

Separate queues let a slow analysis backlog never delay a webhook or a preview, and let each
queue get its own worker count and worker type. Storage follows the settings: one SQLite file
per queue under `Settings.queue_sqlite_path` (one host), or Redis (`PriorityRedisHuey`, the Redis
storage that accepts priorities; plain `RedisHuey` refuses them).

Building a `Queues` opens no database and loads no plugin: the API process builds one just to
enqueue. The task bodies live in `tasks.py` and `jobs.py` and are imported by the worker that
runs them, at its first task.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from huey import PriorityRedisHuey, SqliteHuey
from huey.api import Huey, TaskWrapper

from appliance.ops.settings import Settings

__all__ = ["JOB_NAMES", "QUEUE_NAMES", "Queues"]

QUEUE_NAMES = ("default", "maintenance", "analysis", "resolution", "preview")

#: Maintenance jobs (`appliance.queue.jobs`), enqueued by the scheduler.
JOB_NAMES = ("expire_analyses", "retry_webhooks", "retention")


def _runner(module: str, function: str) -> Callable[..., None]:
    """A task body that imports `module` when it first runs, then calls `function` with the task's args."""

    def run(*args: Any) -> None:
        getattr(importlib.import_module(module), function)(*args)

    return run


def _make_huey(settings: Settings, queue: str) -> Huey:
    name = f"{settings.queue.name_prefix}-{queue}"
    if settings.queue.backend == "redis":
        return PriorityRedisHuey(name=name, url=settings.queue.redis_url, results=False, utc=True)
    directory = settings.queue_sqlite_path
    directory.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name=name, filename=str(directory / f"{queue}.db"), results=False, utc=True)


class Queues:
    """The queues of one installation, with a typed `enqueue_*` method per task."""

    def __init__(self, settings: Settings) -> None:
        self._hueys = {queue: _make_huey(settings, queue) for queue in QUEUE_NAMES}
        # The Huey task keeps its first name, which queued messages carry, and now takes several ids.
        self._run_analyses = self._task("analysis", "appliance.queue.tasks", "run_analyses", name="run_analysis")
        self._resolve_folder = self._task("resolution", "appliance.queue.tasks", "resolve_folder")
        self._make_preview = self._task("preview", "appliance.queue.tasks", "make_preview")
        self._deliver_webhook = self._task("default", "appliance.queue.tasks", "deliver_webhook")
        self._run_job = self._task("maintenance", "appliance.queue.jobs", "run_job")

    def _task(self, queue: str, module: str, function: str, name: str | None = None) -> TaskWrapper:
        return self._hueys[queue].task(name=name or function)(_runner(module, function))

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

    def pending_counts(self) -> dict[str, int]:
        """Tasks waiting in each queue (not counting delayed tasks a worker has moved to the schedule)."""
        return {queue: huey.pending_count() for queue, huey in self._hueys.items()}

    def ping(self) -> None:
        """Raise if the storage of any queue does not answer."""
        self.pending_counts()
