"""Issue 18's bounded soak: about 100 folders uploaded while analysis workers are killed at random
moments (half of them right after the queue handed a task over) and the API server is killed and
started again once: nothing stuck, lost, duplicated, and no file left without a row
(tests/support/soak.py says how each is counted; bench/soak.py runs 1,000).

It runs on the one-host deployment, the default; the two-host stack's soak is
`bench/soak.py --deployment postgres+redis` (the suite keeps its 15 minutes), and the lease tests
(test_analysis_leases.py) run on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.deployments import deployment_settings
from tests.support.live import running_appliance
from tests.support.soak import SOAK_SETTINGS, SOAK_WORKERS, run_soak, soak_photos

pytestmark = pytest.mark.timeout(300)

FOLDERS = 100


def test_soak_with_worker_kills_and_a_server_restart(tmp_path: Path) -> None:
    with (
        deployment_settings("sqlite") as deployment,
        running_appliance(
            tmp_path / "data", workers=SOAK_WORKERS, graceful_stop=False, **SOAK_SETTINGS, **deployment
        ) as live,
    ):
        counts = run_soak(live, soak_photos(FOLDERS), FOLDERS)
        print(counts)
        assert counts.worker_kills > 0 and counts.kills_after_dequeue > 0, counts
        assert counts.created >= FOLDERS, counts
        assert (counts.stuck, counts.lost, counts.duplicated, counts.orphan_files) == (0, 0, 0, 0), (
            f"{counts}\n{live.logs()}"
        )
        assert counts.analyses_finished >= FOLDERS
