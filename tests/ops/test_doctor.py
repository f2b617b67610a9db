"""`appliance doctor` on a real appliance (`appliance init`, then the command as a subprocess): all ok
when fresh, and each fault a technician meets named by the check it breaks, with exit status 1."""

from __future__ import annotations

import json
import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.ops.doctor import CHECKS
from appliance.ops.settings import load_settings
from appliance.runtime import ModelStore
from appliance.store import open_store
from tests.support.live import ADMIN_EMAIL, appliance_env, free_port, run_command
from tests.support.postgres import create_database, drop_database, require_server

pytestmark = pytest.mark.timeout(300)

#: The appliance's own checks, in order; the installed plugins' checks (`<plugin>: <check>`) follow them.
NAMES = [name for name, _ in CHECKS]


def _initialised(data: Path, **settings: str) -> dict[str, str]:
    env = appliance_env(data, free_port(), **settings)
    init = run_command(env, "init", "--admin-email", ADMIN_EMAIL)
    assert init.returncode == 0, init.stderr
    return env


def doctor(env: dict[str, str]) -> tuple[int, dict[str, tuple[str, str]]]:
    """Exit status and {check: (status, detail)} of `appliance doctor --json`."""
    proc = run_command(env, "doctor", "--json")
    report = json.loads(proc.stdout)
    assert report["ok"] is (proc.returncode == 0), proc.stderr
    return proc.returncode, {c["check"]: (c["status"], c["detail"]) for c in report["checks"]}


def statuses(checks: dict[str, tuple[str, str]]) -> dict[str, str]:
    """The status of each of the appliance's own checks."""
    return {name: status for name, (status, _) in checks.items() if name in NAMES}


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("doctor") / "data"
    _initialised(data)
    return data


@pytest.fixture
def site(initialised: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy of a freshly initialised appliance, for one test to break."""
    data = tmp_path / "data"
    shutil.copytree(initialised, data, symlinks=True)
    return data, appliance_env(data, free_port())


@pytest.fixture(params=["sqlite", "postgres"])
def two_host_site(request: pytest.FixtureRequest, site, tmp_path: Path):
    """(env, database URL) of an initialised appliance on SQLite or on PostgreSQL."""
    data, env = site
    if request.param == "sqlite":
        yield env, load_settings(env).resolved_database_url
        return
    server = require_server()
    database = create_database(server)
    try:
        yield _initialised(tmp_path / "pg-data", DATABASE_URL=database), database
    finally:
        drop_database(database, server)


def test_all_ok_on_a_fresh_init(site) -> None:
    _, env = site
    table = run_command(env, "doctor")
    assert table.returncode == 0, table.stdout + table.stderr
    rows = [line.split(None, 2) for line in table.stdout.splitlines()]
    assert rows[0] == ["check", "status", "detail"]
    assert [row[0] for row in rows[1 : len(NAMES) + 1]] == NAMES
    assert all(row[1] == "ok" for row in rows[1 : len(NAMES) + 1]), table.stdout
    code, checks = doctor(env)
    assert code == 0 and {status for status, _ in checks.values()} == {"ok"}
    assert "canaries passed (bundle defaults-" in checks["models"][1]


def test_a_corrupted_model_file_fails_the_models_check(site) -> None:
    data, env = site
    store = ModelStore(data / "models")
    damaged = store.file_path(store.card("dlib-sp5"))
    content = bytearray(damaged.read_bytes())
    content[len(content) // 2] ^= 0xFF
    damaged.write_bytes(bytes(content))
    code, checks = doctor(env)
    assert code == 1
    assert statuses(checks) == {**dict.fromkeys(NAMES, "ok"), "models": "fail"}
    assert f"model dlib-sp5 {store.active_version('dlib-sp5')}: file {damaged} has sha256" in checks["models"][1]


def test_a_missing_database_fails_the_database_check(site) -> None:
    data, env = site
    (data / "appliance.db").unlink()
    code, checks = doctor(env)
    assert code == 1
    assert checks["database"] == ("fail", f"no database at {data / 'appliance.db'}: run appliance init")
    assert checks["hosts"] == ("warn", "not checked: the database is not available")
    assert not (data / "appliance.db").exists()  # the doctor made no empty database


def test_a_world_writable_data_dir_fails_the_permissions_check(site) -> None:
    data, env = site
    data.chmod(0o777)
    code, checks = doctor(env)
    assert code == 1
    assert statuses(checks) == {**dict.fromkeys(NAMES, "ok"), "permissions": "fail"}
    assert (
        checks["permissions"][1] == f"the data directory {data} is writable by everyone (mode 0777): chmod o-w {data}"
    )


def test_a_readable_config_file_fails_the_permissions_check(site) -> None:
    data, env = site
    (data / "appliance.toml").chmod(0o644)
    code, checks = doctor(env)
    assert code == 1 and checks["permissions"][0] == "fail"
    assert "the config file" in checks["permissions"][1] and "it holds secrets" in checks["permissions"][1]
    assert stat.S_IMODE((data / "updater" / "site.key").stat().st_mode) == 0o600


def test_two_hosts_on_different_bundles_fail_the_hosts_check(two_host_site) -> None:
    env, database = two_host_site
    bundle = ModelStore(load_settings(env).models_path).active_bundle()
    assert bundle is not None
    now = datetime.now(UTC)
    store = open_store(database)
    try:
        store.report_host("branch-b", bundle_id="models-6", bundle_version=6, models={"dlib-resnet": "0.2.0"})
        store.report_host(
            "branch-c", bundle_id=bundle["bundle_id"], bundle_version=bundle["bundle_version"], models=bundle["models"]
        )
        store.report_host("retired", bundle_id=None, bundle_version=None, models={}, now=now - timedelta(days=40))
    finally:
        store.close()
    code, checks = doctor(env)
    assert code == 1
    assert statuses(checks) == {**dict.fromkeys(NAMES, "ok"), "hosts": "fail"}
    detail = checks["hosts"][1]
    assert f"runs bundle {bundle['bundle_id']} version 1, but branch-b runs bundle models-6 version 6" in detail
    assert "branch-c" not in detail and "retired" not in detail
    assert "1 host(s) silent for over 30 days left out" in detail
    if database.startswith("postgresql"):
        assert "database server" in checks["clock"][1]  # the server's clock, read by the database check


def test_a_host_reporting_from_the_future_fails_the_clock_check(site) -> None:
    _, env = site
    bundle = ModelStore(load_settings(env).models_path).active_bundle()
    assert bundle is not None
    store = open_store(load_settings(env).resolved_database_url)
    try:
        store.report_host(
            "branch-b",
            bundle_id=bundle["bundle_id"],
            bundle_version=bundle["bundle_version"],
            models=bundle["models"],
            now=datetime.now(UTC) + timedelta(minutes=10),
        )
    finally:
        store.close()
    code, checks = doctor(env)
    assert code == 1
    assert statuses(checks) == {**dict.fromkeys(NAMES, "ok"), "clock": "fail"}
    assert "host branch-b (its last report" in checks["clock"][1] and "synchronise the clocks" in checks["clock"][1]


def test_an_invalid_setting_is_the_one_failed_check(site) -> None:
    _, env = site
    code, checks = doctor({**env, "APPLIANCE_QUEUE__BACKEND": "kafka"})
    assert code == 1
    assert list(checks) == ["configuration"] and checks["configuration"][0] == "fail"
    assert "queue.backend" in checks["configuration"][1]


def test_plugins_add_their_checks(site) -> None:
    _, env = site
    modules = json.loads(env["APPLIANCE_PLUGIN_MODULES"]) + ["tests.plugins.doctor_plugin"]
    code, checks = doctor({**env, "APPLIANCE_PLUGIN_MODULES": json.dumps(modules)})
    assert code == 1
    added = [name for name in checks if name.startswith("tests.plugins.doctor_plugin")]
    assert added == ["tests.plugins.doctor_plugin: licence", "tests.plugins.doctor_plugin: camera"]
    assert list(checks).index(added[0]) > len(NAMES) - 1  # after the appliance's own checks
    assert checks["tests.plugins.doctor_plugin: camera"] == ("fail", "no camera at /dev/video0")
    assert checks["plugins"][0] == "ok" and "tests.plugins.doctor_plugin 1.0" in checks["plugins"][1]


def test_the_doctor_writes_nothing(site) -> None:
    data, env = site

    def listing() -> dict[str, float]:
        return {str(p): p.stat().st_mtime for p in data.rglob("*") if p.name != "lock"}

    before = listing()
    assert doctor(env)[0] == 0
    assert listing() == before
