"""Installing bundles: content checks while streaming, policies, the switch, rollback and recovery."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from datetime import timedelta

import pytest
from _updater_kit import SET_1, Vendor, appliance, bump, content, install, rewrite, snapshot

from appliance_updater.errors import InstallFailed, PolicyRefused
from appliance_updater.install import Updater


@pytest.fixture
def vendor(tmp_path):
    return Vendor(tmp_path)


@pytest.fixture
def up(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    install(up, vendor.bundle(SET_1, 1))
    return up


def _refused_unchanged(up: Updater, bundle, error, match: str) -> None:
    before = snapshot(up.models_root)
    with pytest.raises(error, match=match):
        install(up, bundle)
    assert snapshot(up.models_root) == before, "a refused bundle changed the store"
    assert not up.journal_path.exists()


def _member(entries, suffix):
    return next(i for i, (info, _) in enumerate(entries) if info.name.endswith(suffix))


# The layout written -----------------------------------------------------------------------------


def test_install_writes_the_documented_layout(up):
    root = up.models_root
    for name in ("det", "mesh", "emb"):
        assert os.readlink(root / name / "active") == "1.0.0"
        assert (root / name / "1.0.0" / "card.json").is_file()
        assert oct((root / name / "1.0.0").stat().st_mode & 0o777) == "0o755"
    data = (root / "mesh" / "1.0.0" / "mesh.tflite").read_bytes()
    assert data == content("mesh", "1.0.0", "mesh.tflite", 4000)
    assert oct((root / "mesh" / "1.0.0" / "mesh.tflite").stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in root.rglob(".*")) == [".bundle.json", ".manifests"]
    marker = json.loads((root / ".bundle.json").read_text())
    assert marker["format"] == 1 and marker["bundle_id"] == "models-1" and marker["bundle_version"] == 1
    assert marker["models"] == {"det": "1.0.0", "mesh": "1.0.0", "emb": "1.0.0"}
    assert oct((root / ".bundle.json").stat().st_mode & 0o777) == "0o644"
    state = up.load_state()
    assert marker["manifest_sha256"] == state.bundle.manifest_sha256
    kept = root / ".manifests" / f"{marker['manifest_sha256']}.json"  # the exact manifest, for the appliance
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == marker["manifest_sha256"]
    assert [p.name for p in (root / ".manifests").iterdir()] == [kept.name]
    assert state.bundle.version == 1 and state.models["emb"] == "1.0.0"
    assert [e["event"] for e in up.history()] == ["init", "installed"]


def test_upgrade_keeps_the_previous_version_and_rollback_restores_it(up, vendor):
    second = vendor.bundle(bump(SET_1, det="1.1.0", mesh="2.0.0"), 2)
    outcome = install(up, second)
    assert outcome.old == {"det": "1.0.0", "mesh": "1.0.0", "emb": "1.0.0"}
    assert up.active_models() == {"det": "1.1.0", "emb": "1.0.0", "mesh": "2.0.0"}
    assert (up.models_root / "det" / "1.0.0" / "card.json").is_file()
    assert up.read_marker().bundle_id == "models-2"
    assert up.read_marker().models == {"det": "1.1.0", "emb": "1.0.0", "mesh": "2.0.0"}
    with up:
        up.rollback()
    assert up.active_models() == {"det": "1.0.0", "emb": "1.0.0", "mesh": "1.0.0"}
    assert up.read_marker().bundle_id == "models-1"  # the bundle whose models are active again
    assert up.read_marker().models == up.active_models()
    with pytest.raises(Exception, match="nothing to roll back"), up:
        up.rollback()
    # rolled back: the same bundle is not installed again, a newer one is
    with pytest.raises(PolicyRefused, match="rolled back"):
        install(up, second)
    install(up, vendor.bundle(bump(SET_1, det="1.2.0", mesh="2.0.0"), 3))
    assert up.active_models()["det"] == "1.2.0"


def test_the_same_bundle_twice_does_nothing(up, vendor, tmp_path):
    before = snapshot(up.models_root)
    # rebuild the very same manifest bytes: install it through a copy of the first bundle
    first = min(tmp_path.glob("bundle-1-*.tar"))
    assert install(up, first).already_installed
    assert snapshot(up.models_root) == before


def test_a_new_model_and_rollback_of_it(up, vendor):
    models = dict(SET_1, pad={"version": "0.1.0", "task": "presentation_attack", "files": {"pad.onnx": 100}})
    install(up, vendor.bundle(models, 2))
    assert up.active_version("pad") == "0.1.0"
    with up:
        up.rollback()
    assert up.active_version("pad") is None
    assert up.read_marker().bundle_id == "models-1"
    assert (up.models_root / "pad" / "0.1.0" / "card.json").is_file()


# Content refusals -------------------------------------------------------------------------------


def test_tampered_file_is_refused(up, vendor, tmp_path):
    bundle = vendor.bundle(bump(SET_1, det="1.1.0"), 2)

    def tamper(entries):
        i = _member(entries, "det.tflite")
        info, data = entries[i]
        entries[i] = (info, bytes([data[0] ^ 1]) + data[1:])
        return entries

    _refused_unchanged(up, rewrite(bundle, tmp_path / "t.tar", tamper), InstallFailed, "sha256.*tampered")
    assert up.history()[-1]["event"] == "install refused"


def test_a_refused_first_bundle_leaves_the_store_empty(tmp_path, vendor):
    """Models staged before the tampered file are removed with their model directories: readers
    would list an empty directory as a model without an active version."""
    fresh = appliance(tmp_path / "fresh", vendor)

    def tamper(entries):
        i = _member(entries, "emb.dat")  # after det and mesh in the bundle
        info, data = entries[i]
        entries[i] = (info, bytes([data[0] ^ 1]) + data[1:])
        return entries

    bundle = rewrite(vendor.bundle(SET_1, 1), tmp_path / "t.tar", tamper)
    with pytest.raises(InstallFailed, match="sha256.*tampered"):
        install(fresh, bundle)
    assert list(fresh.models_root.iterdir()) == []


def test_oversize_file_is_refused(up, vendor, tmp_path):
    bundle = vendor.bundle(bump(SET_1, det="1.1.0"), 2)

    def grow(entries):
        i = _member(entries, "emb.dat")
        entries[i] = (entries[i][0], entries[i][1] + b"x" * 10)
        return entries

    _refused_unchanged(up, rewrite(bundle, tmp_path / "o.tar", grow), InstallFailed, "larger than the manifest")


def test_extra_file_is_refused(up, vendor, tmp_path):
    bundle = vendor.bundle(bump(SET_1, det="1.1.0"), 2)

    def extra(entries):
        info = tarfile.TarInfo("models/det/1.1.0/payload.sh")
        return entries + [(info, b"#!/bin/sh\n")]

    _refused_unchanged(up, rewrite(bundle, tmp_path / "x.tar", extra), InstallFailed, "not in the manifest")


def test_duplicate_entry_is_refused(up, vendor, tmp_path):
    bundle = vendor.bundle(bump(SET_1, det="1.1.0"), 2)
    _refused_unchanged(up, rewrite(bundle, tmp_path / "d.tar", lambda e: e + [e[2]]), InstallFailed, "appears twice")


@pytest.mark.parametrize("kind", ["symlink", "hardlink", "dotdot", "absolute", "device", "directory"])
def test_links_and_escaping_names_are_refused(up, vendor, tmp_path, kind):
    bundle = vendor.bundle(bump(SET_1, det="1.1.0"), 2)

    def evil(entries):
        i = _member(entries, "det.tflite")
        info, data = entries[i]
        if kind == "symlink":
            link = tarfile.TarInfo(info.name)
            link.type, link.linkname = tarfile.SYMTYPE, "../../../../etc/passwd"
            entries[i] = (link, b"")
        elif kind == "hardlink":
            link = tarfile.TarInfo(info.name)
            link.type, link.linkname = tarfile.LNKTYPE, "manifest.json"
            entries[i] = (link, b"")
        elif kind == "device":
            dev = tarfile.TarInfo(info.name)
            dev.type = tarfile.CHRTYPE
            entries[i] = (dev, b"")
        elif kind == "directory":
            d = tarfile.TarInfo("models/det/1.1.0")
            d.type = tarfile.DIRTYPE
            entries.insert(i, (d, b""))
        else:
            name = "models/det/1.1.0/../../../escape" if kind == "dotdot" else "/escape-absolute"
            entries.insert(i, (tarfile.TarInfo(name), data))
        return entries

    before = snapshot(up.models_root)
    with pytest.raises(InstallFailed, match="refused"):
        install(up, rewrite(bundle, tmp_path / f"{kind}.tar", evil))
    assert snapshot(up.models_root) == before
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("keep", [0.001, 0.3, 0.6, 0.999])
def test_truncated_bundle_is_refused(up, vendor, tmp_path, keep):
    bundle = vendor.bundle(bump(SET_1, det="1.1.0", emb="1.0.1"), 2)
    with tarfile.open(bundle) as tar:
        end = max(m.offset_data + m.size for m in tar.getmembers())  # the tar's zero padding follows
    cut = tmp_path / "cut.tar"
    cut.write_bytes(bundle.read_bytes()[: int(end * keep)])
    before = snapshot(up.models_root)
    with pytest.raises(InstallFailed, match="truncated|damaged"):
        install(up, cut)
    assert snapshot(up.models_root) == before


def test_a_bundle_missing_a_file_is_refused(up, vendor, tmp_path):
    bundle = vendor.bundle(bump(SET_1, det="1.1.0"), 2)
    _refused_unchanged(up, rewrite(bundle, tmp_path / "m.tar", lambda e: e[:-1]), InstallFailed, "truncated: 1 file")


def test_not_a_tar_is_refused(up, tmp_path):
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"\x00garbage" * 100)
    with pytest.raises(InstallFailed):
        install(up, junk)


# Policies ---------------------------------------------------------------------------------------


def test_downgrade_is_refused(up, vendor):
    install(up, vendor.bundle(bump(SET_1, det="1.1.0"), 2))
    _refused_unchanged(up, vendor.bundle(SET_1, 3), PolicyRefused, "det 1.0.0 is a downgrade")


def test_downgrade_is_refused_after_rollback_too(up, vendor):
    install(up, vendor.bundle(bump(SET_1, det="1.1.0"), 2))
    with up:
        up.rollback()
    _refused_unchanged(up, vendor.bundle(bump(SET_1, det="1.0.5"), 3), PolicyRefused, "downgrade")


def test_replay_of_an_older_bundle_is_refused(up, vendor, tmp_path):
    old = vendor.bundle(bump(SET_1, det="1.0.1"), 2)
    install(up, vendor.bundle(bump(SET_1, det="1.0.2"), 3))
    _refused_unchanged(up, old, PolicyRefused, "version 2 is older.*replay")


def test_same_bundle_version_with_another_manifest_is_refused(up, vendor):
    _refused_unchanged(up, vendor.bundle(bump(SET_1, det="1.0.1"), 1), PolicyRefused, "already installed with another")


def test_expired_bundle_is_refused(up, vendor):
    _refused_unchanged(
        up, vendor.bundle(bump(SET_1, det="1.1.0"), 2, expires_in=timedelta(seconds=-1)), PolicyRefused, "expired"
    )


def test_a_bundle_without_expiry_is_accepted(up, vendor):
    install(up, vendor.bundle(bump(SET_1, det="1.1.0"), 2, expires_in=None))


def test_incompatible_product_is_refused(up, vendor):
    _refused_unchanged(up, vendor.bundle(bump(SET_1, det="1.1.0"), 2, product="toaster"), PolicyRefused, "product")


def test_incompatible_runtime_abi_is_refused(up, vendor):
    _refused_unchanged(up, vendor.bundle(bump(SET_1, det="1.1.0"), 2, abi="models-2"), PolicyRefused, "runtime ABI")


def test_changed_card_under_the_same_version_is_refused(up, vendor):
    changed = {k: dict(v) for k, v in SET_1.items()}
    changed["det"]["description"] = "retrained"
    _refused_unchanged(up, vendor.bundle(changed, 2), PolicyRefused, "det 1.0.0 is already installed with another card")


def test_embedding_space_change_needs_a_migration(up, vendor):
    new = bump(SET_1, emb="2.0.0")
    new["emb"]["embedding_space"] = "space-b"
    _refused_unchanged(up, vendor.bundle(new, 2), PolicyRefused, "embedding space 'space-b'.*no migration")
    migration = {"model": "emb", "from_space": "space-a", "to_space": "space-b", "method": "re-enrol from photos"}
    install(up, vendor.bundle(new, 3, migrations=[migration]))
    assert up.active_version("emb") == "2.0.0"


# Crashes inside the transaction (in process; the SIGKILL test is test_updater_crash.py) ---------


class Crash(BaseException):
    pass


@pytest.mark.parametrize(
    "point, expected",
    [
        ("staged", "old"),
        ("published det", "old"),
        ("journal written", "old"),
        ("switched det", "old"),
        ("switched mesh", "old"),
        ("committed", "new"),
    ],
)
def test_a_crash_at_each_point_leaves_one_whole_set(tmp_path, vendor, point, expected):
    up = appliance(tmp_path, vendor)
    install(up, vendor.bundle(SET_1, 1))
    old = up.active_models()
    bundle = vendor.bundle(bump(SET_1, det="1.1.0", mesh="1.1.0", emb="1.1.0"), 2)

    def hook(where):
        if where == point:
            raise Crash(where)

    crashing = Updater(up.state_dir, up.models_root, hook=hook)
    with pytest.raises(Crash), crashing:
        crashing.install(bundle)
    fresh = Updater(up.state_dir, up.models_root)
    with fresh:
        fresh.recover()
    want = old if expected == "old" else {"det": "1.1.0", "emb": "1.1.0", "mesh": "1.1.0"}
    assert fresh.active_models() == want
    assert not fresh.journal_path.exists()
    assert sorted(p.name for p in up.models_root.rglob(".*")) == [".bundle.json", ".manifests"]
    assert fresh.read_marker().models == want  # the marker names the bundle whose models are active
    assert fresh.read_marker().bundle_id == ("models-1" if expected == "old" else "models-2")
    if expected == "old":
        assert install(fresh, bundle).new["det"] == "1.1.0"
    assert fresh.active_models() == {"det": "1.1.0", "emb": "1.1.0", "mesh": "1.1.0"}


def test_a_second_updater_is_refused_while_one_runs(up):
    from appliance_updater.errors import Busy

    other = Updater(up.state_dir, up.models_root)
    with up, pytest.raises(Busy), other:
        pass


@pytest.mark.parametrize("where", [0, 3])
def test_a_huge_tar_header_is_refused_before_it_is_read(up, vendor, tmp_path, where):
    """A pax header of several MiB (before the manifest, or before a model file) is refused, not
    read into memory."""
    bundle = vendor.bundle(bump(SET_1, det="1.1.0"), 2)

    def huge(entries):
        info, data = entries[where]
        info.pax_headers = {"comment": "x" * (3 << 20)}
        entries[where] = (info, data)
        return entries

    before = snapshot(up.models_root)
    with pytest.raises(InstallFailed, match="tar header is larger"):
        install(up, rewrite(bundle, tmp_path / "huge.tar", huge))
    assert snapshot(up.models_root) == before


def test_a_downgrade_signed_as_authorised_is_installed(up, vendor):
    install(up, vendor.bundle(bump(SET_1, det="1.1.0"), 2))
    bad = vendor.bundle(bump(SET_1, det="1.0.5"), 3, downgrades=[{"model": "mesh", "version": "1.0.0"}])
    _refused_unchanged(up, bad, PolicyRefused, "det 1.0.5 is a downgrade")
    good = vendor.bundle(bump(SET_1, det="1.0.5"), 4, downgrades=[{"model": "det", "version": "1.0.5"}])
    assert install(up, good).new["det"] == "1.0.5"
    assert up.load_state().models["det"] == "1.1.0"  # the highest seen is kept


def test_a_downgrade_authorisation_must_name_a_model_of_the_bundle(vendor):
    from appliance_updater.errors import VerificationRefused

    with pytest.raises(VerificationRefused, match="downgrade must name"):
        vendor.bundle(SET_1, 2, downgrades=[{"model": "det", "version": "0.1.0"}])
