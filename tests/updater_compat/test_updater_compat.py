"""The updater (its own distribution) and the appliance meet only in the model store layout
(docs/model-store.md): what the updater writes, the appliance's ModelStore reads and verifies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance_updater import keys
from appliance_updater.bundle import build_bundle, sign_bundle
from appliance_updater.install import Updater
from appliance_updater.trust import Root

from appliance.runtime import ModelStore, decode_card


def _provisioned(tmp: Path) -> tuple[Updater, list[keys.PrivateKey]]:
    signers = [keys.generate(), keys.generate()]
    root = Root.create([k.public for k in signers], 2)
    for k in signers:
        root = root.sign(k)
    (tmp / "root.json").write_text(json.dumps(root.to_json()))
    up = Updater(tmp / "state", tmp / "models")
    with up:
        up.init(tmp / "root.json")
    return up, signers


def test_the_default_models_as_a_signed_bundle_are_read_by_the_appliance(tmp_path, default_models_root):
    """Build a bundle from the appliance's default model store, install it with the updater into a
    fresh store, and read every model back with the appliance's ModelStore."""
    up, signers = _provisioned(tmp_path)
    bundle = tmp_path / "defaults.tar"
    now = datetime.now(UTC)
    manifest = build_bundle(
        default_models_root,
        bundle,
        bundle_id="defaults",
        bundle_version=1,
        product="liveness-appliance",
        runtime_abi="models-1",
        issued_at=now,
        expires_at=now + timedelta(days=1),
    )
    for k in signers:
        sign_bundle(bundle, k)
    with up:
        outcome = up.install(bundle)

    source, installed = ModelStore(default_models_root), ModelStore(up.models_root)
    assert installed.names() == source.names() == sorted(outcome.new)
    for name in installed.names():
        card = installed.card(name)  # through `active`
        assert card.version == source.active_version(name) == installed.active_version(name)
        assert card == source.card(name)
        installed.verify(card)  # every file's size and sha256 against the card
    assert {m.name for m in manifest.models} == set(installed.names())


def test_an_updater_switch_is_seen_by_the_appliance_and_the_appliance_install_is_seen_by_the_updater(tmp_path):
    up, signers = _provisioned(tmp_path)
    store = ModelStore(up.models_root)

    def model_dir(version: str, payload: bytes) -> Path:
        src = tmp_path / f"src-{version}"
        d = src / "pad" / version
        d.mkdir(parents=True)
        (d / "pad.onnx").write_bytes(payload)
        import hashlib

        card = {
            "name": "pad",
            "version": version,
            "task": "presentation_attack",
            "runtime": "onnx",
            "files": [{"name": "pad.onnx", "sha256": hashlib.sha256(payload).hexdigest(), "size_bytes": len(payload)}],
            "source": "https://example.org/pad",
            "license": "MIT",
        }
        (d / "card.json").write_text(json.dumps(card))
        decode_card(json.dumps(card))  # the appliance accepts the card
        return src

    for n, version in enumerate(["1.0.0", "1.1.0"], start=1):
        bundle = tmp_path / f"b{n}.tar"
        now = datetime.now(UTC)
        build_bundle(
            model_dir(version, version.encode() * 100),
            bundle,
            bundle_id=f"pad-{n}",
            bundle_version=n,
            product="liveness-appliance",
            runtime_abi="models-1",
            issued_at=now,
            expires_at=None,
        )
        for k in signers:
            sign_bundle(bundle, k)
        with up:
            up.install(bundle)
        assert store.active_version("pad") == version
        store.verify(store.card("pad"))
    assert store.versions("pad") == ["1.0.0", "1.1.0"]
    # the appliance's own switch (an operator's) is what the updater then sees as active
    store.activate("pad", "1.0.0")
    assert up.active_version("pad") == "1.0.0"
