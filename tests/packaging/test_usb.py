"""The USB path (docs/updater.md, "USB"): the udev rule, the systemd unit, and the script that
verifies and installs the bundles of a stick, run here on a directory standing in for the mounted
stick, with real signed bundles from the updater's own test kit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.systemd_units import verify_unit

ROOT = Path(__file__).resolve().parents[2]
USB = ROOT / "packaging" / "usb"
SCRIPT = USB / "appliance-update-usb"
UNIT = USB / "appliance-update-usb@.service"
RULES = USB / "99-appliance-update-usb.rules"
UPDATE = Path(sys.executable).with_name("appliance-update")

sys.path.insert(0, str(ROOT / "updater" / "tests"))
from _updater_kit import SET_1, Vendor, appliance, bump  # noqa: E402  (the updater's own test kit, not a package)


def _run(stick: Path, up, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        APPLIANCE_UPDATE=str(UPDATE),
        APPLIANCE_UPDATER_STATE_DIR=str(up.state_dir),
        APPLIANCE_MODELS_ROOT=str(up.models_root),
    )
    return subprocess.run(
        ["sh", str(SCRIPT), "--dir", str(stick), *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def kit(tmp_path):
    vendor = Vendor(tmp_path / "vendor")
    vendor.tmp.mkdir()
    up = appliance(tmp_path / "appliance", vendor)
    (up.state_dir / "config.json").write_text('{"canary_command": ""}')  # no appliance to run canaries here
    return vendor, up


def test_bundles_on_the_stick_are_verified_and_installed_oldest_first(tmp_path, kit):
    vendor, up = kit
    stick = tmp_path / "stick"
    (stick / "appliance-bundles").mkdir(parents=True)
    v1 = vendor.bundle(SET_1, 1)
    v2 = vendor.bundle(bump(SET_1, det="1.1.0"), 2)
    # names that sort the other way round: the order comes from the bundle versions
    shutil.copy(v2, stick / "a-newer.bundle")
    shutil.copy(v1, stick / "appliance-bundles" / "z-older.bundle")
    (stick / "notes.txt").write_text("not a bundle")
    (stick / "link.bundle").symlink_to(stick / "a-newer.bundle")  # links are not followed

    result = _run(stick, up)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines == [
        f"appliance-update-usb: 2 bundle(s) in {stick}",
        "appliance-update-usb: appliance-bundles/z-older.bundle: installed bundle models-1 version 1",
        "appliance-update-usb: a-newer.bundle: installed bundle models-2 version 2",
    ]
    assert up.active_models() == {"det": "1.1.0", "emb": "1.0.0", "mesh": "1.0.0"}
    assert up.read_marker().bundle_id == "models-2"
    assert [e["event"] for e in up.history()] == ["init", "installed", "installed"]

    again = _run(stick, up)  # the same stick again: the newer bundle is a no-op, the older one a replay
    assert again.returncode == 1
    assert "z-older.bundle: refused (verify, exit 4)" in again.stdout
    assert "a-newer.bundle: bundle models-2 version 2 is already installed; nothing to do" in again.stdout


def test_a_refused_bundle_is_logged_and_the_others_still_install(tmp_path, kit):
    vendor, up = kit
    stick = tmp_path / "stick"
    stick.mkdir()
    shutil.copy(vendor.bundle(SET_1, 1, sign_with=vendor.signers[:1]), stick / "one-signature.bundle")
    shutil.copy(vendor.bundle(SET_1, 3), stick / "good.bundle")
    (stick / "junk.bundle").write_bytes(b"not a tar at all")
    result = _run(stick, up)
    assert result.returncode == 1
    out = result.stdout
    assert "one-signature.bundle: refused (verify, exit 3): appliance-update: refused:" in out
    assert "junk.bundle: refused (verify, exit 5)" in out
    assert "good.bundle: installed bundle models-3 version 3" in out
    assert len(out.splitlines()) == 4
    assert up.read_marker().bundle_id == "models-3"


def test_an_empty_stick_is_fine(tmp_path, kit):
    _, up = kit
    (tmp_path / "stick").mkdir()
    result = _run(tmp_path / "stick", up)
    assert result.returncode == 0
    assert result.stdout.startswith("appliance-update-usb: no bundles")


def test_the_rule_starts_the_unit_and_the_unit_mounts_read_only_and_is_hardened():
    rule = [line for line in RULES.read_text().splitlines() if line and not line.startswith("#")]
    assert len(rule) == 1
    assert 'ACTION=="add"' in rule[0] and 'SUBSYSTEM=="block"' in rule[0]
    assert 'ENV{ID_FS_USAGE}=="filesystem"' in rule[0]
    assert 'ENV{SYSTEMD_WANTS}+="appliance-update-usb@%k.service"' in rule[0]
    script = SCRIPT.read_text()
    assert "mount -o ro,nosuid,nodev,noexec" in script and "umount" in script
    unit = UNIT.read_text()
    for setting in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/appliance-updater /var/lib/appliance/models",
        "PrivateTmp=yes",
        "PrivateNetwork=yes",
        "StandardOutput=journal",
        "ExecStart=/usr/local/lib/appliance/appliance-update-usb --device /dev/%I",
    ):
        assert setting in unit.splitlines(), setting


def test_systemd_analyze_verifies_every_unit(tmp_path):
    units = sorted(USB.glob("*.service")) + sorted(USB.glob("*.mount"))
    assert units
    for unit in units:
        problems = verify_unit(
            unit,
            tmp_path,
            replace={"/usr/local/lib/appliance/appliance-update-usb": str(SCRIPT)},
            instance="sdz1",
            ignore=("dev-sdz1.device",),  # the device the instance binds to does not exist here
        )
        assert not problems, "\n".join(problems)
