"""The updater's kill test carried to the appliance (docs/updater.md, "Crashes and power loss"):
`appliance-update install` is killed at each point of its switch (20 kills), and the appliance
that starts next never serves a mixed model set: its start runs the updater's recovery, and
`/api/version` reads `consistent` from the files.

Each kill leaves a real store behind: some at the moment the journal is written, others with one
or two of three models switched (a mix), all three switched before the commit, or after it. Most
starts go through the process start path in this process (the CLI's recovery step, then the API
app's startup and `/api/version`); some through `appliance serve`, over HTTP.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from appliance_updater import keys
from appliance_updater.install import Updater
from appliance_updater.trust import Root
from litestar.testing import TestClient

from appliance.api.app import create_app
from appliance.cli.model_guard import recover_interrupted_switch
from appliance.core.model_set import ModelSetCheck
from appliance.core.services import AppServices
from appliance.ops.settings import Settings
from appliance.ops.updater import journal_path
from appliance.runtime import ModelStore
from tests.support.dummy_bundles import dummy_model, signed_dummy_bundle
from tests.support.live import LiveAppliance, appliance_env, free_port, run_command

pytestmark = pytest.mark.timeout(120)

DRIVER = Path(__file__).with_name("switch_driver.py")
OLD = {"det": "1.0.0", "emb": "1.0.0", "mesh": "1.0.0"}
NEW = {"det": "1.1.0", "emb": "1.1.0", "mesh": "1.1.0"}
#: The points of the switch, in order (the install's hook names them), and what a kill there leaves.
POINTS = {
    "journal written": "old",
    "switched det": "mixed",
    "switched emb": "mixed",
    "switched mesh": "new, not committed",
    "committed": "new, committed",
}
KILLS_PER_POINT = 4
#: Model files of about 20 kB, so that a switch takes long enough to be killed in the middle.
REPEATS = 2000
#: The kills whose next start is `appliance serve` itself (the others: the same steps in this process).
SERVED = {("switched det", 0), ("committed", 0)}


def _settings(data_dir: Path) -> Settings:
    return Settings(data_dir=str(data_dir), plugin_modules=[], secret_key="s" * 32)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A data directory whose model store runs bundle 1 (OLD), installed by the updater, and bundle 2 (NEW)."""
    tmp = tmp_path_factory.mktemp("switch")
    signers = [keys.generate(), keys.generate()]
    root = Root.create([k.public for k in signers], 2)
    for key in signers:
        root = root.sign(key)
    (tmp / "root.json").write_text(json.dumps(root.to_json()))
    data = tmp / "data"
    settings = _settings(data)
    with Updater(settings.updater_state_path, settings.models_path) as updater:
        updater.init(tmp / "root.json")
        updater.install(signed_dummy_bundle(tmp, signers, 1, OLD, REPEATS))
    services = AppServices(settings)
    services.migrate()  # as `appliance init` leaves it; each copy starts from here
    services.close()
    return data, signed_dummy_bundle(tmp, signers, 2, NEW, REPEATS)


def _kill_at(data: Path, bundle: Path, point: str) -> None:
    """Run the install and SIGKILL it once it reaches `point`."""
    settings = _settings(data)
    args = [str(settings.updater_state_path), str(settings.models_path), str(bundle), point]
    with subprocess.Popen([sys.executable, str(DRIVER), *args], stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.strip() == point:
                proc.send_signal(signal.SIGKILL)
                break
        assert proc.wait(timeout=30) == -signal.SIGKILL, f"the install never reached {point!r}"


def _active(data: Path) -> dict[str, str | None]:
    store = ModelStore(_settings(data).models_path)
    return {name: store.active_version(name) for name in store.names()}


def _start_in_process(data: Path) -> dict[str, Any]:
    """What `appliance serve` does before it answers, in this process: the CLI's recovery step, then
    the API app's startup (migrate, report the host, load the models); then `/api/version`."""
    settings = _settings(data)
    recover_interrupted_switch(settings)
    with TestClient(create_app(settings)) as client:
        response = client.get("/api/version")
    assert response.status_code == 200, response.text
    return response.json()


def _start_served(data: Path) -> dict[str, Any]:
    """`appliance serve` on the data directory; its `/api/version` over HTTP."""
    port = free_port()
    env = appliance_env(data, port, PLUGIN_MODULES="[]", SECRET_KEY="s" * 32)
    live = LiveAppliance(base_url=f"http://127.0.0.1:{port}", env=env, data_dir=data, log_dir=data / "logs")
    live.log_dir.mkdir(exist_ok=True)
    live.start_process("api", "serve")
    try:
        live.wait_ready()
        return httpx.get(f"{live.base_url}/api/version", timeout=30).json()
    finally:
        live.stop()


def test_a_start_after_a_kill_at_the_switch_never_serves_a_mixed_set(tmp_path: Path, template) -> None:
    source, bundle = template
    left: Counter[str] = Counter()
    for point, kind in POINTS.items():
        for run in range(KILLS_PER_POINT):
            data = tmp_path / "data"
            shutil.rmtree(data, ignore_errors=True)
            shutil.copytree(source, data, symlinks=True)
            _kill_at(data, bundle, point)

            # what the kill left: a pending journal, and the files say so
            settings = _settings(data)
            active = _active(data)
            left["mixed" if active not in (OLD, NEW) else "whole"] += 1
            assert (active not in (OLD, NEW)) == (kind == "mixed"), (point, active)
            journal = journal_path(settings.updater_state_path)
            assert journal.exists()
            before = ModelSetCheck(ModelStore(settings.models_path), journal).state()
            assert not before.consistent and "appliance-update recover" in before.problems[0]

            version = _start_served(data) if (point, run) in SERVED else _start_in_process(data)

            served = {m["name"]: m["version"] for m in version["models"]}
            expected = NEW if kind == "new, committed" else OLD
            assert served == expected, f"kill at {point!r} (run {run}): the appliance served {served}"
            assert version["model_set"] == {"consistent": True, "problems": []}
            assert version["consistent"] is True
            assert version["bundle"]["models"] == expected
            assert [host["models"] for host in version["hosts"]] == [expected]
            assert not journal.exists()
    assert left == {"mixed": 2 * KILLS_PER_POINT, "whole": 3 * KILLS_PER_POINT}


def test_consistent_is_read_from_the_files(tmp_path: Path, template) -> None:
    """No journal, yet not one whole set: a damaged model file; a model at another version than the bundle's."""
    source, _ = template
    data = tmp_path / "data"
    shutil.copytree(source, data, symlinks=True)
    settings = _settings(data)
    model_file = settings.models_path / "emb" / "1.0.0" / "model.onnx"
    model_file.write_bytes(model_file.read_bytes()[:-1] + b"!")
    with TestClient(create_app(settings)) as client:
        version = client.get("/api/version").json()
    assert version["consistent"] is False
    [problem] = version["model_set"]["problems"]
    assert "model emb 1.0.0" in problem and "sha256" in problem

    shutil.rmtree(data)
    shutil.copytree(source, data, symlinks=True)
    # another version, made active by hand: not the bundle's set
    dummy_model(settings.models_path, "det", "0.9.0", REPEATS)
    (settings.models_path / "det" / "active").unlink()
    (settings.models_path / "det" / "active").symlink_to("0.9.0")
    with TestClient(create_app(settings)) as client:
        version = client.get("/api/version").json()
    assert version["consistent"] is False
    assert version["model_set"]["problems"] == ["det is at 0.9.0, the active bundle models-1 lists 1.0.0"]


def test_a_switch_that_cannot_be_recovered_stops_the_start_with_one_line(tmp_path: Path, template) -> None:
    """A journal whose old versions are gone from the store: the updater cannot finish it, and
    `appliance serve` refuses to start, naming the command to run."""
    source, _ = template
    data = tmp_path / "data"
    shutil.copytree(source, data, symlinks=True)
    settings = _settings(data)
    journal = {"kind": "install", "txid": "dead", "bundle_id": "x", "old": {"det": "0.0.1"}, "new": {"det": "1.0.0"}}
    journal_path(settings.updater_state_path).write_text(json.dumps(journal))

    done = run_command(appliance_env(data, free_port(), PLUGIN_MODULES="[]", SECRET_KEY="s" * 32), "serve", timeout=60)

    assert done.returncode == 1
    [line] = done.stderr.strip().splitlines()[-1:]
    assert line.startswith("appliance: a model switch was interrupted and is still pending")
    assert "model det 0.0.1 is not installed" in line
    assert f"run `appliance-update recover --state-dir {settings.updater_state_path}" in line
