"""A worker killed with SIGKILL in the middle of an analysis: the run is retried by another
worker process, and when that one does not finish either, the analysis ends FAILED with a
reason. Nothing stays PROCESSING past its expiry."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.support.live import child_pids, poll_folder, running_appliance

pytestmark = pytest.mark.timeout(180)

PROCESSING_TIMEOUT = 3.0
MAX_ATTEMPTS = 2


def test_killed_worker_is_retried_then_failed_with_a_reason(tmp_path: Path, samples: dict[str, Path]) -> None:
    with running_appliance(
        tmp_path / "data",
        ANALYSIS__PROCESSING_TIMEOUT_SECONDS=str(PROCESSING_TIMEOUT),
        ANALYSIS__MAX_ATTEMPTS=str(MAX_ATTEMPTS),
        graceful_stop=False,
    ) as live:
        client = live.client(live.login())
        payload = {"media:tags": {"photo1": ["photo_selfie"]}}
        with samples["jpeg"].open("rb") as photo:
            folder = client.post("/api/folders/", data={"payload": json.dumps(payload)}, files={"photo1": photo}).json()
        started = client.post(
            f"/api/folders/{folder['folder_id']}/analyses/",
            json={"analyses": [{"type": "brightness", "params": {"hold_seconds": 60}}]},
        )
        analysis_id = started.json()[0]["analysis_id"]

        deadline = time.monotonic() + 30
        while client.get(f"/api/analyses/{analysis_id}").json()["time_started"] is None:
            assert time.monotonic() < deadline, live.logs()
            time.sleep(0.1)
        worker_processes = child_pids(live.processes["worker-analysis"].pid)
        assert worker_processes, "the analysis consumer runs its workers as processes"
        for pid in worker_processes:
            os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()

        seen_attempts = set()
        while True:
            analysis = client.get(f"/api/analyses/{analysis_id}").json()
            seen_attempts.add(analysis["attempts"])
            if analysis["state"] != "PROCESSING":
                break
            # every run gets PROCESSING_TIMEOUT plus a scheduler period or two to be noticed
            assert time.monotonic() - killed_at < MAX_ATTEMPTS * (PROCESSING_TIMEOUT + 15), live.logs()
            time.sleep(0.2)

        assert MAX_ATTEMPTS in seen_attempts, "the killed run was retried"
        assert analysis["state"] == "FAILED" and analysis["resolution_status"] == "FAILED"
        assert analysis["error_code"] == 122
        assert f"{PROCESSING_TIMEOUT:g}" in analysis["error_message"]
        final = poll_folder(client, folder["folder_id"])
        assert final["resolution_status"] == "FAILED"
        assert set(child_pids(live.processes["worker-analysis"].pid)) - set(worker_processes), (
            "killed workers were replaced"
        )
