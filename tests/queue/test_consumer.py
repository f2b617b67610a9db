"""A real consumer: `run_worker` for the analysis queue in its own process, fed from this one.

Runs once on SQLite queue files and once on Redis. The worker process forks its worker
processes, each of which builds its own context from the APPLIANCE_* environment.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.core.services import AppServices
from appliance.domain.enums import AnalysisState, Resolution
from appliance.ops.settings import Settings, load_settings
from tests.queue.conftest import (
    PLUGIN_MODULE,
    SECRET_KEY,
    Samples,
    add_analysis,
    add_folder,
    add_media,
    build_context,
)
from tests.support.redis_server import redis_url

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKER_CODE = (
    "from appliance.ops.settings import load_settings\n"
    "from appliance.queue.worker import run_worker\n"
    "run_worker(load_settings(), 'analysis', 2)\n"
)


def _environment(data_dir: Path, backend: str, prefix: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env |= {
        "APPLIANCE_DATA_DIR": str(data_dir),
        "APPLIANCE_SECRET_KEY": SECRET_KEY,
        "APPLIANCE_PLUGIN_MODULES": f'["{PLUGIN_MODULE}"]',
        "APPLIANCE_QUEUE__BACKEND": backend,
        "APPLIANCE_QUEUE__NAME_PREFIX": prefix,
        "APPLIANCE_QUEUE__REDIS_URL": redis_url(),
        "APPLIANCE_ANALYSIS__MAX_ATTEMPTS": "2",
        "APPLIANCE_ANALYSIS__RETRY_DELAY_SECONDS": "1",
    }
    return env


@pytest.fixture
def worker_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], AppServices]]:
    """The environment of a test installation, and a context on it for this process."""
    backend = request.param
    prefix = request.getfixturevalue("redis_prefix") if backend == "redis" else "appliance"
    env = _environment(tmp_path / "data", backend, prefix)
    settings: Settings = load_settings(env)
    ctx = build_context(settings)
    yield env, ctx
    ctx.close()


def _start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen([sys.executable, "-c", WORKER_CODE], cwd=REPO_ROOT, env=env, stdout=log, stderr=log)


def _stop_worker(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)  # graceful: finish running tasks, then exit
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _wait_final(ctx: AppServices, analysis_ids: list[str], log_path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [ctx.store.get_analysis(a).state for a in analysis_ids]  # type: ignore[union-attr]
        if AnalysisState.PROCESSING not in states:
            return
        time.sleep(0.1)
    pytest.fail(f"analyses still PROCESSING after {timeout} s; worker log:\n{log_path.read_text()}")


@pytest.mark.parametrize("worker_env", ["sqlite", pytest.param("redis", marks=pytest.mark.redis)], indirect=True)
def test_consumer_runs_analyses_and_delayed_retries(
    worker_env: tuple[dict[str, str], AppServices], samples: Samples, tmp_path: Path
) -> None:
    env, ctx = worker_env
    folder = add_folder(ctx)
    media = [add_media(ctx, folder, samples.jpeg)]
    good = add_analysis(ctx, folder, media)
    flaky = add_analysis(ctx, folder, media, params={"raise_error": "model not ready"})
    log_path = tmp_path / "worker.log"
    proc = _start_worker(env, log_path)
    try:
        ctx.queues.enqueue_analysis(good.analysis_id)
        ctx.queues.enqueue_analysis(flaky.analysis_id)
        _wait_final(ctx, [good.analysis_id, flaky.analysis_id], log_path)
    finally:
        _stop_worker(proc)

    done = ctx.store.get_analysis(good.analysis_id)
    assert done is not None
    assert (done.state, done.resolution_status, done.attempt) == (AnalysisState.FINISHED, Resolution.SUCCESS, 1)
    failed = ctx.store.get_analysis(flaky.analysis_id)
    assert failed is not None
    # The first run was requeued with a 1 s delay; the consumer's scheduler ran the second.
    assert (failed.state, failed.attempt, failed.error_message) == (
        AnalysisState.FAILED,
        2,
        "RuntimeError: model not ready",
    )
    assert ctx.queues.pending_counts()["resolution"] == 2  # enqueued by the worker processes
    assert proc.returncode == 0, log_path.read_text()
