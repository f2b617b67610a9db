"""SIGKILL the installer at random moments: the store always shows one whole model set, never a mix,
and the next install succeeds (docs/updater.md, "Crashes and power loss")."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _updater_kit import SET_1, Vendor, appliance, bump, install
from appliance_modelstore.files import sha256_file
from appliance_modelstore.layout import MANIFESTS_DIR

from appliance_updater.install import Updater

RUNS = int(os.environ.get("UPDATER_CRASH_RUNS", "100"))
DRIVER = Path(__file__).with_name("_updater_crash_driver.py")
NEW = {"det": "1.1.0", "emb": "1.1.0", "mesh": "1.1.0"}
OLD = {"det": "1.0.0", "emb": "1.0.0", "mesh": "1.0.0"}
NEWER = {"det": "1.2.0", "emb": "1.2.0", "mesh": "1.2.0"}


def _consistent(up: Updater) -> dict:
    active = up.active_models()
    assert active in (OLD, NEW), f"a mix of model sets is active: {active}"
    assert not up.journal_path.exists()
    manifests = up.models_root / MANIFESTS_DIR
    leftovers = [p for p in up.models_root.rglob(".*") if p not in (up.marker_path, manifests)]
    assert not leftovers, "leftover staging, temporary links or temporary files"
    marker = json.loads(up.marker_path.read_text())  # the active bundle, always the one whose models are active
    kept = manifests / f"{marker['manifest_sha256']}.json"  # and its manifest is kept
    assert sha256_file(kept)[0] == marker["manifest_sha256"]
    assert marker["models"] == active
    assert marker["bundle_id"] == ("models-2" if active == NEW else "models-1")
    for name, version in active.items():
        card = json.loads((up.models_root / name / version / "card.json").read_text())
        for f in card["files"]:
            assert sha256_file(up.models_root / name / version / f["name"]) == (f["sha256"], f["size_bytes"])
    return active


def test_sigkill_at_random_points_never_leaves_a_mix(tmp_path):
    vendor = Vendor(tmp_path / "vendor")
    vendor.tmp.mkdir()
    template = tmp_path / "template"
    up = appliance(template, vendor)
    install(up, vendor.bundle(SET_1, 1))
    big = {k: dict(v, files={n: 200_000 for n in v["files"]}) for k, v in SET_1.items()}
    bundle = vendor.bundle(bump(big, **NEW), 2)
    newer = vendor.bundle(bump(big, **NEWER), 3)

    # how long does an install take in the driver, from "go" to exit?
    durations = []
    for i in range(3):
        work = tmp_path / f"measure-{i}"
        shutil.copytree(template, work, symlinks=True)
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), str(work / "state"), str(work / "models"), str(bundle)],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout.readline() == b"go\n"
        start = time.monotonic()
        assert proc.wait(timeout=60) == 0
        durations.append(time.monotonic() - start)
        shutil.rmtree(work)
    window = max(durations) * 1.1

    rng = random.Random(int(os.environ.get("UPDATER_CRASH_SEED", "5")))
    outcomes = {"old": 0, "new": 0, "finished": 0}
    for run in range(RUNS):
        work = tmp_path / "run"
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(template, work, symlinks=True)
        proc = subprocess.Popen(
            [sys.executable, str(DRIVER), str(work / "state"), str(work / "models"), str(bundle)],
            stdout=subprocess.PIPE,
        )
        assert proc.stdout.readline() == b"go\n"
        time.sleep(rng.uniform(0, window))
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=60)
        proc.stdout.close()
        if code == 0:
            outcomes["finished"] += 1
        after = Updater(work / "state", work / "models")
        with after:
            after.recover()
        active = _consistent(after)
        if active == OLD:
            outcomes["old"] += 1
            assert install(after, bundle).new == NEW, f"run {run}: the next install failed"
        else:
            outcomes["new"] += 1
            assert install(after, newer).new == NEWER, f"run {run}: the next install failed"
    print(f"\n{RUNS} SIGKILL runs: {outcomes}")
    # the kills must have landed both before and after the commit point
    assert outcomes["old"] > 0 and outcomes["new"] > 0


@pytest.mark.parametrize("when", ["journal", "staging"])
def test_leftovers_of_a_crash_are_cleaned_by_status(tmp_path, when):
    """What a killed installer leaves (a journal, a staging directory) is finished by `status`."""
    from appliance_updater.cli import main

    vendor = Vendor(tmp_path)
    up = appliance(tmp_path, vendor)
    install(up, vendor.bundle(SET_1, 1))
    if when == "journal":
        journal = {"kind": "install", "txid": "dead", "bundle_id": "x", "old": OLD, "new": {"det": "9.9.9"}}
        up.journal_path.write_text(json.dumps(journal))
    else:
        (up.models_root / "det" / ".staging-upd-0123").mkdir()
        (up.models_root / "det" / ".staging-upd-0123" / "half").write_bytes(b"x")
    args = ["status", "--state-dir", str(up.state_dir), "--models-root", str(up.models_root)]
    assert main(args) == 0
    assert _consistent(up) == OLD
