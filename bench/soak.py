"""The long soak of issue 18: folders uploaded to a real appliance while its analysis workers are
killed at random moments (half of the kills right after the queue handed a task over) and its API
server is killed and started again once. Prints how many folders ended stuck, lost or duplicated,
how many files were left without a row, and the wall time.

It runs what tests/e2e/test_soak.py runs with 100 folders (tests/support/soak.py: how the appliance
is set up, how each count is taken): `appliance init`, then the API, every queue's workers (two
analysis worker processes) and the scheduler as separate processes, with a lease of 2 s and an
orphan grace period of 5 s. The analysis is BRIGHTNESS (the test plugin) on a small photo of its
own per folder, the fastest one that goes through the queue, so the figures measure recovery and
not compute. The wall time runs from the first upload until every folder is final.

    .venv/bin/python bench/soak.py [--folders 1000] [--deployment sqlite|postgres+redis] [--seed 18]

PostgreSQL and Redis come from APPLIANCE_TEST_POSTGRES_URL and APPLIANCE_TEST_REDIS_URL, as for
the tests. Exits 1 when any count that must be 0 is not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.deployments import DEPLOYMENTS, deployment_settings
from tests.support.live import running_appliance
from tests.support.soak import SOAK_SETTINGS, SOAK_WORKERS, run_soak, soak_photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folders", type=int, default=1000)
    parser.add_argument("--deployment", choices=DEPLOYMENTS, default="sqlite")
    parser.add_argument("--seed", type=int, default=18, help="of the kills' moments")
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory(prefix="soak-") as tmp,
        deployment_settings(args.deployment) as deployment,
        running_appliance(
            Path(tmp) / "data", workers=SOAK_WORKERS, graceful_stop=False, **SOAK_SETTINGS, **deployment
        ) as live,
    ):
        print(f"soak: {args.folders} folders on {args.deployment}, analysis workers killed, the server restarted once")
        counts = run_soak(live, soak_photos(args.folders), args.folders, seed=args.seed, settle_seconds=120)

    rows = [
        ("folders uploaded (answered 201)", args.folders),
        ("folders in the database", counts.created),
        ("analyses finished", counts.analyses_finished),
        ("worker processes killed", counts.worker_kills),
        ("  kills right after a dequeue", counts.kills_after_dequeue),
        ("server restarts", counts.server_restarts),
        ("stuck", counts.stuck),
        ("lost", counts.lost),
        ("  of which FAILED analyses", counts.failed),
        ("duplicated", counts.duplicated),
        ("orphan files", counts.orphan_files),
        ("wall time, s", f"{counts.wall_seconds:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value:>8}")
    if counts.stuck or counts.lost or counts.duplicated or counts.orphan_files:
        sys.exit(1)


if __name__ == "__main__":
    main()
