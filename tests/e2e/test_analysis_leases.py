"""Issue 18, point 4, reproduced with real processes: a fresh analysis worker killed after the
queue handed it the task but before it recorded the start (the database held by another
writer makes the moment certain; the issue found it by killing fresh workers 0.06-0.15 s after a
POST, 3 times in 6). The analysis used to stay PROCESSING
at attempt 0 for the hour of the delivery timeout, then FAILED; now the expiry job finds the task
in no queue and enqueues it again, and the analysis finishes within seconds of its lease.
A worker killed while it runs an analysis is retried when its lease lapses, long before the
processing timeout (15 minutes by default, left as it is here)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from appliance.core.queues import Queues
from appliance.ops.settings import load_settings
from appliance.store import open_store
from tests.support.deployments import DEPLOYMENTS, deployment_settings
from tests.support.live import LiveAppliance, child_pids, poll_folder, running_appliance

pytestmark = pytest.mark.timeout(240)

LEASE_SECONDS = 2.0
#: Lease, two passes of the expiry job (every second), a new worker process and the run itself,
#: with room for a loaded machine: far below the hour the issue saw.
RECOVERY_SECONDS = 45.0


def kill_workers(live: LiveAppliance) -> None:
    pids = child_pids(live.processes["worker-analysis"].pid)
    assert pids, "the analysis consumer runs its workers as processes"
    signal_all(pids, signal.SIGKILL)


def wait_for_fresh_workers(live: LiveAppliance) -> list[int]:
    deadline = time.monotonic() + 30
    while not (pids := child_pids(live.processes["worker-analysis"].pid)):
        assert time.monotonic() < deadline, live.logs()
        time.sleep(0.05)
    return pids


def signal_all(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        os.kill(pid, signum)


@contextmanager
def database_busy(database_url: str) -> Iterator[None]:
    """Another writer holds SQLite's write lock, or PostgreSQL's hosts table, where a fresh worker
    first writes (its host report) before it records the start of its first task."""
    if database_url.startswith("sqlite:///"):
        connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            yield
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    with psycopg.connect(database_url) as connection, connection.transaction():
        connection.execute("LOCK TABLE hosts IN EXCLUSIVE MODE")
        yield


def _photo_folder(client: httpx.Client, photo: Path) -> dict[str, Any]:
    """A new folder holding `photo` as a selfie, no analyses yet."""
    with photo.open("rb") as content:
        created = client.post(
            "/api/folders/",
            data={"payload": json.dumps({"media:tags": {"photo1": ["photo_selfie"]}})},
            files={"photo1": content},
        )
    return created.json()


@pytest.mark.parametrize("kind", DEPLOYMENTS)
def test_a_worker_killed_after_taking_the_task_before_starting_it(
    kind: str, tmp_path: Path, samples: dict[str, Path]
) -> None:
    with (
        deployment_settings(kind) as deployment,
        running_appliance(
            tmp_path / "data",
            workers={"analysis": 1, "resolution": 1, "maintenance": 1, "default": 1},
            graceful_stop=False,
            QUEUE__LEASE_SECONDS=str(LEASE_SECONDS),
            **deployment,
        ) as live,
    ):
        settings = load_settings(live.env)
        queues, store = Queues(settings), open_store(settings.resolved_database_url)
        client = live.client(live.login())
        folder = _photo_folder(client, samples["jpeg"])
        fresh = wait_for_fresh_workers(live)  # forked, never ran a task: it builds its services on the first
        signal_all(fresh, signal.SIGSTOP)  # so that nothing runs the task before the database is busy

        posted = time.monotonic()
        started = client.post(
            f"/api/folders/{folder['folder_id']}/analyses/", json={"analyses": [{"type": "brightness"}]}
        )
        analysis_id = started.json()[0]["analysis_id"]
        # (On Redis a stopped worker blocked in its pop may already hold the task: the server hands it over.)
        # A busy database keeps the worker that takes the task from recording the start for as long
        # as this test needs to kill it.
        with database_busy(settings.resolved_database_url):
            signal_all(fresh, signal.SIGCONT)
            while queues.pending_counts()["analysis"]:  # the queue hands the task to a worker ...
                assert time.monotonic() - posted < 30, live.logs()
                time.sleep(0.005)
            time.sleep(0.2)
            signal_all(fresh, signal.SIGKILL)  # ... which dies before it records the start
        taken = store.get_analysis(analysis_id)
        assert taken is not None and (taken.attempt, taken.time_started) == (0, None)
        assert analysis_id not in queues.queued_analysis_ids()

        final = poll_folder(client, folder["folder_id"], timeout=RECOVERY_SECONDS)
        recovered = time.monotonic() - posted
        analysis = client.get(f"/api/analyses/{analysis_id}").json()
        assert (analysis["state"], analysis["resolution_status"], analysis["attempts"]) == ("FINISHED", "SUCCESS", 1), (
            live.logs()
        )
        assert final["resolution_status"] == "FINISHED"
        assert recovered < RECOVERY_SECONDS
        assert set(child_pids(live.processes["worker-analysis"].pid)) - set(fresh), "killed workers were replaced"
        store.close()


def test_a_worker_killed_mid_analysis_is_retried_when_its_lease_lapses(
    tmp_path: Path, samples: dict[str, Path]
) -> None:
    with running_appliance(
        tmp_path / "data",
        workers={"analysis": 1, "resolution": 1, "maintenance": 1, "default": 1},
        graceful_stop=False,
        QUEUE__LEASE_SECONDS=str(LEASE_SECONDS),
    ) as live:
        client = live.client(live.login())
        folder = _photo_folder(client, samples["jpeg"])
        # The first run holds for longer than two leases (renewing its lease) and is then killed.
        hold = {"type": "brightness", "params": {"hold_seconds": 3 * LEASE_SECONDS}}
        analysis_id = client.post(f"/api/folders/{folder['folder_id']}/analyses/", json={"analyses": [hold]}).json()[0][
            "analysis_id"
        ]
        deadline = time.monotonic() + 30
        while client.get(f"/api/analyses/{analysis_id}").json()["time_started"] is None:
            assert time.monotonic() < deadline, live.logs()
            time.sleep(0.05)
        time.sleep(2 * LEASE_SECONDS)
        running = client.get(f"/api/analyses/{analysis_id}").json()
        assert (running["state"], running["attempts"]) == ("PROCESSING", 1), "the heartbeat kept the lease"
        kill_workers(live)
        killed_at = time.monotonic()

        final = poll_folder(client, folder["folder_id"], timeout=RECOVERY_SECONDS)
        analysis = client.get(f"/api/analyses/{analysis_id}").json()
        assert (analysis["state"], analysis["resolution_status"], analysis["attempts"]) == ("FINISHED", "SUCCESS", 2), (
            live.logs()
        )
        assert final["resolution_status"] == "FINISHED"
        assert time.monotonic() - killed_at < RECOVERY_SECONDS
