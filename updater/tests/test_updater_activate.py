"""Activating one installed version (`appliance-update activate`, behind `appliance models activate`):
verified first, one journalled switch, recorded, recovered after a crash like an install."""

from __future__ import annotations

import os

import pytest
from _updater_kit import SET_1, Vendor, appliance, bump, install, snapshot, write_model

from appliance_updater.errors import InstallFailed, UsageError
from appliance_updater.install import Updater


class Crash(BaseException):
    """Stands for the process dying at a point of the transaction: nothing after it runs."""


@pytest.fixture
def up(tmp_path):
    vendor = Vendor(tmp_path)
    up = appliance(tmp_path, vendor)
    install(up, vendor.bundle(SET_1, 1))
    install(up, vendor.bundle(bump(SET_1, det="1.1.0"), 2))  # det 1.0.0 stays installed beside 1.1.0
    return up


def _active(up: Updater, name: str) -> str | None:
    return up.active_version(name)


def test_activate_switches_one_model_and_records_it(up):
    with up:
        replaced = up.activate("det", "1.0.0")

    assert replaced == "1.1.0"
    assert os.readlink(up.models_root / "det" / "active") == "1.0.0"
    assert up.active_models() == {"det": "1.0.0", "emb": "1.0.0", "mesh": "1.0.0"}
    assert not up.journal_path.exists()
    event = up.history()[-1]
    assert (event["event"], event["model"], event["old"], event["new"]) == ("activated", "det", "1.1.0", "1.0.0")


def test_a_missing_version_or_a_damaged_file_is_refused_and_nothing_changes(up):
    before = snapshot(up.models_root)
    with up, pytest.raises(UsageError, match="model det version 9.9.9 is not in the model store"):
        up.activate("det", "9.9.9")
    (up.models_root / "det" / "1.0.0" / "det.tflite").write_bytes(b"damaged")
    with up, pytest.raises(InstallFailed, match="det.tflite has 7 bytes"):
        up.activate("det", "1.0.0")
    after = snapshot(up.models_root)
    assert {k: v for k, v in after.items() if "det.tflite" not in k} == {
        k: v for k, v in before.items() if "det.tflite" not in k
    }
    assert not up.journal_path.exists()


@pytest.mark.parametrize(("point", "active_after_recovery"), [("journal written", "1.1.0"), ("switched det", "1.1.0")])
def test_a_crash_before_the_commit_is_rolled_back(up, point, active_after_recovery):
    def crash_at(reached: str) -> None:
        if reached == point:
            raise Crash

    with Updater(up.state_dir, up.models_root, hook=crash_at) as crashing, pytest.raises(Crash):
        crashing.activate("det", "1.0.0")
    assert up.journal_path.exists()

    with up:
        assert up.recover() == "rolled back"
    assert _active(up, "det") == active_after_recovery and not up.journal_path.exists()


def test_a_store_without_updater_state_gets_one(tmp_path):
    models, state = tmp_path / "models", tmp_path / "state"
    for version in ("1.0.0", "2.0.0"):
        write_model(models, "det", version)
    os.symlink("1.0.0", models / "det" / "active")
    up = Updater(state, models)

    with up:
        assert up.activate("det", "2.0.0") == "1.0.0"

    assert _active(up, "det") == "2.0.0"
    assert up.load_state().txid and up.load_state().bundle is None
    assert [e["event"] for e in up.history()] == ["activated"]
