"""The active bundle, end to end: the updater installs a signed bundle into the appliance's model
store, the appliance reads `<models_root>/.bundle.json`, reports it for its host when the API starts,
and `/api/version` shows it, every host's report and whether the hosts agree."""

from __future__ import annotations

import json
from pathlib import Path

from appliance_updater import keys
from appliance_updater.install import Updater
from appliance_updater.trust import Root
from litestar.testing import TestClient

from appliance.api.app import create_app
from appliance.ops.settings import Settings
from appliance.runtime import ModelStore
from appliance.store import open_store
from tests.support.dummy_bundles import signed_dummy_bundle
from tests.support.schema import LATEST_SCHEMA


def _updater(tmp: Path, models_root: Path) -> tuple[Updater, list[keys.PrivateKey]]:
    signers = [keys.generate(), keys.generate()]
    root = Root.create([k.public for k in signers], 2)
    for k in signers:
        root = root.sign(k)
    (tmp / "root.json").write_text(json.dumps(root.to_json()))
    up = Updater(tmp / "state", models_root)
    with up:
        up.init(tmp / "root.json")
    return up, signers


def test_model_store_reads_the_bundle_the_updater_made_active(tmp_path):
    models_root = tmp_path / "models"
    up, signers = _updater(tmp_path, models_root)
    store = ModelStore(models_root)
    assert store.active_bundle() is None  # nothing installed yet
    with up:
        up.install(signed_dummy_bundle(tmp_path, signers, 1, {"det": "1.0.0"}))
    bundle = store.active_bundle()
    assert bundle is not None
    assert (bundle.bundle_id, bundle.bundle_version, bundle.models) == ("models-1", 1, {"det": "1.0.0"})
    assert bundle.manifest_sha256 == up.load_state().bundle.manifest_sha256
    assert store.names() == ["det"]  # the marker is no model
    with up:
        up.rollback()  # back to no bundle at all
    assert store.active_bundle() is None
    (models_root / ".bundle.json").write_text("{not json")
    assert store.active_bundle() is None


def test_api_version_shows_the_active_bundle_and_every_host(tmp_path):
    models_root = tmp_path / "data" / "models"
    up, signers = _updater(tmp_path, models_root)
    with up:
        up.install(signed_dummy_bundle(tmp_path, signers, 7, {"det": "1.0.0", "emb": "2.0"}))
    settings = Settings(data_dir=str(tmp_path / "data"), plugin_modules=[], secret_key="s" * 32)

    with TestClient(create_app(settings)) as client:  # the API reports its host when it starts
        version = client.get("/api/version").json()
    assert version["schema"] == LATEST_SCHEMA
    assert version["bundle"]["bundle_id"] == "models-7" and version["bundle"]["bundle_version"] == 7
    assert version["bundle"]["models"] == {"det": "1.0.0", "emb": "2.0"}
    assert {m["name"]: m["version"] for m in version["models"]} == {"det": "1.0.0", "emb": "2.0"}
    [host] = version["hosts"]
    assert (host["bundle_id"], host["bundle_version"], host["models"]) == (
        "models-7",
        7,
        {"det": "1.0.0", "emb": "2.0"},
    )
    assert version["consistent"] is True

    db = open_store(settings.resolved_database_url)  # a second host, still on an older bundle
    try:
        db.report_host("zz-other-host", bundle_id="models-6", bundle_version=6, models={"det": "0.9.0"})
    finally:
        db.close()
    with TestClient(create_app(settings)) as client:
        version = client.get("/api/version").json()
    assert {h["hostname"]: h["bundle_id"] for h in version["hosts"]} == {
        host["hostname"]: "models-7",
        "zz-other-host": "models-6",
    }
    assert version["consistent"] is False


def test_a_worker_reports_its_host_when_its_services_are_built(tmp_path):
    from appliance.queue.context import worker_services

    models_root = tmp_path / "data" / "models"
    up, signers = _updater(tmp_path, models_root)
    with up:
        up.install(signed_dummy_bundle(tmp_path, signers, 3, {"det": "1.0.0"}))
    settings = Settings(data_dir=str(tmp_path / "data"), plugin_modules=[], secret_key="s" * 32)
    db = open_store(settings.resolved_database_url)
    db.migrate()  # the API migrates; a worker expects a migrated database
    db.close()
    context = worker_services(settings)
    try:
        [host] = context.store.list_hosts()
    finally:
        context.close()
    assert (host.bundle_id, host.bundle_version, host.models) == ("models-3", 3, {"det": "1.0.0"})


def test_a_failed_report_does_not_stop_the_process(tmp_path, caplog):
    from appliance.core.hosts import report_this_host

    db = open_store(f"sqlite:///{tmp_path / 'unmigrated.db'}")  # no hosts table
    try:
        assert report_this_host(db, ModelStore(tmp_path / "models"), "h1") is None
    finally:
        db.close()
    assert "could not report this host's model bundle" in caplog.text
