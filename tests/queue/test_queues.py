"""Queues: one Huey instance per queue, enqueueing without a worker context, depth and health."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from huey import PriorityRedisHuey, SqliteHuey

from appliance.core.queues import JOB_NAMES, QUEUE_NAMES, Queues, TaskBodies, TaskNotBound
from appliance.ops.settings import QueueSettings, SchedulerSettings, Settings
from appliance.queue import jobs, tasks
from appliance.queue.scheduler import run_scheduler
from appliance.queue.worker import TASK_BODIES, run_worker, worker_type_for

REPO_ROOT = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, **queue: Any) -> Settings:
    return Settings(data_dir=str(tmp_path / "data"), queue=QueueSettings(**queue))


def test_sqlite_queues_get_one_file_each(tmp_path: Path) -> None:
    queues = Queues(_settings(tmp_path, name_prefix="site1"))
    for name in QUEUE_NAMES:
        huey = queues.huey(name)
        assert isinstance(huey, SqliteHuey)
        assert huey.name == f"site1-{name}"
        assert (tmp_path / "data" / "queue" / f"{name}.db").is_file()


def test_enqueue_lands_on_the_right_queue(tmp_path: Path) -> None:
    queues = Queues(_settings(tmp_path))
    queues.enqueue_analysis("a1")
    queues.enqueue_analyses(["a2", "a3"])  # a folder's analyses: one task
    queues.enqueue_resolve("f1")
    queues.enqueue_preview("m1")
    queues.enqueue_webhook("d1")
    queues.enqueue_job("retention")
    assert queues.pending_counts() == {"default": 1, "maintenance": 1, "analysis": 2, "resolution": 1, "preview": 1}


def test_queued_messages_name_their_tasks_as_before_the_code_moved(tmp_path: Path) -> None:
    """A message queued by an earlier release must find its task after an upgrade: the names are fixed."""
    queues = Queues(_settings(tmp_path))
    queues.enqueue_analyses(["a1"])
    queues.enqueue_resolve("f1")
    queues.enqueue_preview("m1")
    queues.enqueue_webhook("d1")
    queues.enqueue_job("retention")

    names = {
        queue: [huey._registry.create_message(task).name for task in huey.pending()]
        for queue, huey in ((q, queues.huey(q)) for q in QUEUE_NAMES)
    }
    assert names == {
        "analysis": ["appliance.queue.queues.run_analysis"],
        "resolution": ["appliance.queue.queues.resolve_folder"],
        "preview": ["appliance.queue.queues.make_preview"],
        "default": ["appliance.queue.queues.deliver_webhook"],
        "maintenance": ["appliance.queue.queues.run_job"],
    }


def test_a_process_that_only_enqueues_runs_no_task(tmp_path: Path) -> None:
    queues = Queues(_settings(tmp_path))
    queues.enqueue_preview("m1")
    (task,) = queues.huey("preview").pending()

    with pytest.raises(TaskNotBound, match="task make_preview runs on a worker"):
        task.execute()


def test_a_worker_runs_the_bodies_it_binds(tmp_path: Path) -> None:
    ran: list[tuple[str, tuple[str, ...]]] = []

    def recorder(name: str) -> Callable[..., None]:
        return lambda *args: ran.append((name, args))

    bodies = TaskBodies(**{field: recorder(field) for field in TaskBodies.__dataclass_fields__})
    queues = Queues(_settings(tmp_path), bodies)
    queues.enqueue_analyses(["a1", "a2"])
    queues.enqueue_job("retention")
    for queue in ("analysis", "maintenance"):
        (task,) = queues.huey(queue).pending()
        task.execute()

    assert ran == [("run_analyses", ("a1", "a2")), ("run_job", ("retention",))]


def test_the_workers_bind_the_task_functions() -> None:
    assert (TASK_BODIES.run_analyses, TASK_BODIES.resolve_folder, TASK_BODIES.run_job) == (
        tasks.run_analyses,
        tasks.resolve_folder,
        jobs.run_job,
    )
    assert (TASK_BODIES.make_preview, TASK_BODIES.deliver_webhook) == (tasks.make_preview, tasks.deliver_webhook)


def test_delayed_analysis_carries_its_due_time(tmp_path: Path) -> None:
    queues = Queues(_settings(tmp_path))
    before = datetime.now(UTC).replace(tzinfo=None)
    queues.enqueue_analysis("a1", delay=30)
    (task,) = queues.huey("analysis").pending()
    assert (task.name, task.args) == ("run_analysis", ("a1",))  # the name messages queued before carry
    assert before + timedelta(seconds=29) < task.eta < before + timedelta(seconds=32)


def test_unknown_job_is_refused(tmp_path: Path) -> None:
    queues = Queues(_settings(tmp_path))
    with pytest.raises(ValueError, match="expire_analyses, retry_webhooks, retention, plugin_work, sweep_orphans"):
        queues.enqueue_job("vacuum")
    assert set(JOB_NAMES) == {"expire_analyses", "retry_webhooks", "retention", "plugin_work", "sweep_orphans"}


def test_ping_answers_for_sqlite(tmp_path: Path) -> None:
    Queues(_settings(tmp_path)).ping()


def test_ping_raises_when_redis_does_not_answer(tmp_path: Path) -> None:
    queues = Queues(_settings(tmp_path, backend="redis", redis_url="redis://127.0.0.1:1/0"))
    assert isinstance(queues.huey("analysis"), PriorityRedisHuey)
    with pytest.raises(Exception, match=r"(?i)connect"):
        queues.ping()


def test_run_worker_refuses_unknown_queue_and_no_workers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="default, maintenance, analysis, resolution, preview"):
        run_worker(_settings(tmp_path), "analyses", 1)
    with pytest.raises(ValueError, match="at least 1"):
        run_worker(_settings(tmp_path), "analysis", 0)


def test_analysis_runs_in_processes_and_the_rest_in_threads() -> None:
    assert worker_type_for("analysis") == "process"
    assert {worker_type_for(q) for q in QUEUE_NAMES if q != "analysis"} == {"thread"}


def test_scheduler_enqueues_every_job_at_start_and_then_on_its_interval(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=str(tmp_path / "data"),
        scheduler=SchedulerSettings(expiry_check_seconds=0.2, webhook_check_seconds=3600, retention_check_seconds=3600),
    )
    stop = threading.Event()
    thread = threading.Thread(target=run_scheduler, args=(settings, stop))
    thread.start()
    try:
        stop.wait(0.5)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    jobs = [task.args[0] for task in Queues(settings).huey("maintenance").pending()]
    assert jobs.count("retry_webhooks") == 1
    assert jobs.count("retention") == 1
    assert 2 <= jobs.count("expire_analyses") <= 4


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_scheduler_process_stops_cleanly_on_signals(tmp_path: Path, signum: signal.Signals) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env["APPLIANCE_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "scheduler"], cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE
    )
    queues = Queues(_settings(tmp_path))
    try:
        deadline = time.monotonic() + 15
        while queues.pending_counts()["maintenance"] < len(JOB_NAMES):
            assert time.monotonic() < deadline and proc.poll() is None, "the scheduler enqueued nothing"
            time.sleep(0.05)
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, stderr.decode()
    assert "scheduler stopped" in stderr.decode()
