"""Signatures and the root of trust: threshold, unknown keys, tampering, rotation and revocation."""

from __future__ import annotations

import json
import tarfile

import pytest
from _updater_kit import SET_1, Vendor, appliance, bump, install, rewrite, snapshot

from appliance_updater import keys
from appliance_updater.errors import UsageError, VerificationRefused
from appliance_updater.trust import Root


@pytest.fixture
def vendor(tmp_path):
    return Vendor(tmp_path)


def test_threshold_signatures_install(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    outcome = install(up, vendor.bundle(SET_1, 1))
    assert outcome.new == {"det": "1.0.0", "mesh": "1.0.0", "emb": "1.0.0"}
    assert len(outcome.signers) == 2


def test_below_threshold_is_refused(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    before = snapshot(up.models_root)
    with pytest.raises(VerificationRefused, match="1 valid signature.*2 required"):
        install(up, vendor.bundle(SET_1, 1, sign_with=vendor.signers[:1]))
    assert snapshot(up.models_root) == before


def test_the_same_key_twice_counts_once(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    bundle = vendor.bundle(SET_1, 1, sign_with=vendor.signers[:1])

    def duplicate(entries):
        info, data = entries[1]
        sigs = json.loads(data)["signatures"]
        return [entries[0], (info, json.dumps({"signatures": sigs * 2}).encode())] + entries[2:]

    with pytest.raises(VerificationRefused, match="1 valid signature"):
        install(up, rewrite(bundle, tmp_path / "dup.tar", duplicate))


def test_unknown_key_is_refused(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    stranger = [keys.generate(), keys.generate()]
    with pytest.raises(VerificationRefused, match="0 valid signature.*not in root version 1"):
        install(up, vendor.bundle(SET_1, 1, sign_with=stranger))


def test_unsigned_bundle_is_refused(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    with pytest.raises(VerificationRefused, match="0 valid signature"):
        install(up, vendor.bundle(SET_1, 1, sign_with=[]))


def test_tampered_manifest_is_refused(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    bundle = vendor.bundle(SET_1, 1)

    def tamper(entries):
        info, data = entries[0]
        manifest = json.loads(data)
        manifest["models"][0]["card"]["description"] = "evil"
        return [(info, json.dumps(manifest).encode())] + entries[1:]

    before = snapshot(up.models_root)
    with pytest.raises(VerificationRefused, match="0 valid signature"):
        install(up, rewrite(bundle, tmp_path / "t.tar", tamper))
    assert snapshot(up.models_root) == before


def test_manifest_must_come_first(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    bundle = vendor.bundle(SET_1, 1)
    with pytest.raises(VerificationRefused, match="entry manifest.json expected"):
        install(up, rewrite(bundle, tmp_path / "o.tar", lambda e: e[2:] + e[:2]))


def test_rotation_revokes_a_removed_key(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    install(up, vendor.bundle(SET_1, 1))
    a, b, c = vendor.signers
    d = keys.generate()
    new_members = [b, c, d]  # a is revoked
    new = Root.create([k.public for k in new_members], 2, 2)
    for k in (a, b, c, d):  # old threshold (a, b) and new threshold (b, c, d)
        new = new.sign(k)
    with up:
        up.rotate_root(vendor.root_file(new, "root2.json"))
    assert up.root().version == 2
    with pytest.raises(VerificationRefused, match="1 valid signature"):
        install(up, vendor.bundle(bump(SET_1, det="1.1.0"), 2, sign_with=[a, b]))
    outcome = install(up, vendor.bundle(bump(SET_1, det="1.1.0"), 2, sign_with=[b, d]))
    assert outcome.new["det"] == "1.1.0"
    events = [e["event"] for e in up.history()]
    assert "rotate-root" in events


def test_rotation_needs_the_old_threshold(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    thief = [keys.generate(), keys.generate()]
    new = Root.create([k.public for k in thief], 2, 2)
    for k in [*thief, vendor.signers[0]]:  # only one old key: below the old threshold
        new = new.sign(k)
    with pytest.raises(VerificationRefused, match="old keys.*1 valid signature"), up:
        up.rotate_root(vendor.root_file(new, "evil.json"))
    assert up.root().version == 1


def test_rotation_needs_the_new_threshold_and_the_next_version(tmp_path, vendor):
    up = appliance(tmp_path, vendor)
    a, b, _ = vendor.signers
    d, e = keys.generate(), keys.generate()
    new = Root.create([d.public, e.public], 2, 2).sign(a).sign(b).sign(d)  # e did not sign
    with pytest.raises(VerificationRefused, match="new root version 2.*1 valid"), up:
        up.rotate_root(vendor.root_file(new, "half.json"))
    skip = Root.create([d.public, e.public], 2, 3).sign(a).sign(b).sign(d).sign(e)
    with pytest.raises(VerificationRefused, match="only version 2"), up:
        up.rotate_root(vendor.root_file(skip, "skip.json"))


def test_init_refuses_a_root_not_signed_by_its_threshold(tmp_path, vendor):
    from appliance_updater.install import Updater

    root = Root.create([k.public for k in vendor.signers], 2, 1).sign(vendor.signers[0])
    up = Updater(tmp_path / "state", tmp_path / "models")
    with pytest.raises(VerificationRefused), up:
        up.init(vendor.root_file(root))
    good = appliance(tmp_path / "other", vendor)
    with pytest.raises(UsageError, match="exists"), good:
        good.init(vendor.root_file(vendor.root()))


def test_root_with_a_forged_key_id_is_refused(tmp_path, vendor):
    value = vendor.root().to_json()
    value["signed"]["keys"][0]["keyid"] = "0" * 64
    with pytest.raises(VerificationRefused, match="not the sha256"):
        Root.from_bytes(json.dumps(value).encode())


def test_signing_replaces_an_older_signature_of_the_same_key(tmp_path, vendor):
    from appliance_updater.bundle import sign_bundle

    bundle = vendor.bundle(SET_1, 1)
    assert sign_bundle(bundle, vendor.signers[0]) == 2
    with tarfile.open(bundle) as tar:
        assert [m.name for m in tar.getmembers()][:2] == ["manifest.json", "signatures.json"]
