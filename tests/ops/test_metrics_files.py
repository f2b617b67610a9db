"""This host's metric files, with real processes: what each one records adds up in a scrape, a
killed process keeps its counts but not its live gauges, and a new run drops an ended run's files."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from appliance.core.host_metrics import host_registry
from appliance.core.queues import QUEUE_NAMES, Queues
from appliance.ops.metrics_files import process_running, remove_files_of_ended_processes
from appliance.ops.settings import QueueSettings, Settings
from appliance.runtime import ModelStore
from tests.support.live import REPO_ROOT
from tests.support.metrics import Scrape
from tests.support.redis_server import delete_queue_keys, require_redis

pytestmark = pytest.mark.timeout(60)

#: A process that imports the metrics first (as every appliance process does), then switches to
#: the directory, records `count` finished analyses, counts itself as a worker, and waits.
_RECORDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from appliance.ops import metrics
    from appliance.ops.metrics_files import use_directory

    use_directory(Path(sys.argv[1]))
    metrics.analysis_finished("BRIGHTNESS", "SUCCESS", 0.5)
    for _ in range(int(sys.argv[2]) - 1):
        metrics.analysis_finished("BRIGHTNESS", "SUCCESS", 0.5)
    metrics.WORKERS.labels("analysis").inc()
    print("recorded", flush=True)
    time.sleep(60)
    """
)


@contextmanager
def recorder(directory: Path, count: int) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", _RECORDER, str(directory), str(count)], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "recorded"
        yield process
    finally:
        process.kill()
        process.wait()


def scrape(settings: Settings) -> Scrape:
    registry = host_registry(settings.metrics_path, Queues(settings), ModelStore(settings.models_path))
    return Scrape.parse(generate_latest(registry).decode())


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=str(tmp_path))


def test_a_killed_process_keeps_its_counts_and_loses_its_live_gauges(settings: Settings) -> None:
    directory = settings.metrics_path
    with recorder(directory, 2) as first, recorder(directory, 3) as second:
        before = scrape(settings)
        assert before.value("appliance_analyses_total", type="BRIGHTNESS", resolution="SUCCESS") == 5
        assert before.value("appliance_analysis_duration_seconds_count", type="BRIGHTNESS") == 5
        assert before.value("appliance_workers", queue="analysis") == 2

        first.send_signal(signal.SIGKILL)  # not reaped: a zombie has ended all the same
        deadline = time.monotonic() + 10
        while process_running(first.pid):
            assert time.monotonic() < deadline, "the killed process still runs"
            time.sleep(0.01)
        after = scrape(settings)
        assert after.value("appliance_analyses_total", type="BRIGHTNESS", resolution="SUCCESS") == 5
        assert after.value("appliance_workers", queue="analysis") == 1
        assert sorted(f.name for f in directory.glob(f"*_{first.pid}.db")) == [
            f"counter_{first.pid}.db",
            f"histogram_{first.pid}.db",
        ]
        assert (directory / f"gauge_livesum_{second.pid}.db").exists()


def test_a_new_run_drops_the_files_of_ended_processes_only(settings: Settings) -> None:
    directory = settings.metrics_path
    with recorder(directory, 2) as ended:
        pass
    with recorder(directory, 3) as running:
        assert remove_files_of_ended_processes(directory) == 3  # counter, histogram, live gauge
        assert not list(directory.glob(f"*_{ended.pid}.db"))
        assert scrape(settings).value("appliance_analyses_total", type="BRIGHTNESS", resolution="SUCCESS") == 3
        assert remove_files_of_ended_processes(directory) == 0
        assert running.poll() is None


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def test_a_scrape_reads_queue_depths_and_active_models(tmp_path: Path, default_models_root: Path, backend: str) -> None:
    queue = QueueSettings(backend=backend, name_prefix=f"metrics-{uuid.uuid4().hex[:8]}")  # type: ignore[arg-type]
    if backend == "redis":
        queue.redis_url = require_redis()
    settings = Settings(data_dir=str(tmp_path), models_root=str(default_models_root), queue=queue)
    try:
        Queues(settings).enqueue_preview("a-media-id")
        scraped = scrape(settings)  # no process has recorded anything: the directory does not exist yet
    finally:
        if backend == "redis":
            delete_queue_keys(queue.redis_url, queue.name_prefix)
    assert scraped.by("appliance_queue_depth", "queue") == {("preview",): 1}
    assert {labels["queue"] for labels, _ in scraped.samples["appliance_queue_depth"]} == set(QUEUE_NAMES)
    assert scraped.value("appliance_queue_storage_up") == 1
    store = ModelStore(default_models_root)
    expected = {(name, store.active_version(name), "") for name in store.names() if store.active_version(name)}
    assert expected and set(scraped.by("appliance_model_info", "name", "version", "bundle_id")) == expected


def test_an_unreachable_queue_storage_is_reported_not_fatal(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path), queue=QueueSettings(backend="redis", redis_url="redis://127.0.0.1:1/0"))
    scraped = scrape(settings)
    assert scraped.value("appliance_queue_storage_up") == 0
    assert "appliance_queue_depth" not in scraped.samples
