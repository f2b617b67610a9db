"""`appliance doctor` on a real appliance (`appliance init`, then the command as a subprocess): all ok
when fresh, and each fault a technician meets named by the check it breaks, with exit status 1."""

from __future__ import annotations

import json
import re
import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

from appliance.doctor import CHECKS
from appliance.ops.settings import load_settings
from appliance.runtime import ModelStore
from appliance.store import open_store
from tests.support.live import ADMIN_EMAIL, appliance_env, free_port, run_command
from tests.support.postgres import create_database, drop_database, require_server

pytestmark = pytest.mark.timeout(300)

#: The appliance's own checks, in order; the installed plugins' checks (`<plugin>: <check>`) follow them.
NAMES = [name for name, _ in CHECKS]
#: A fresh install: every check ok but liveness, which warns that no PAD model is installed.
FRESH = {**dict.fromkeys(NAMES, "ok"), "liveness": "warn"}


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
    assert {row[0]: row[1] for row in rows[1 : len(NAMES) + 1]} == FRESH, table.stdout
    code, checks = doctor(env)
    assert code == 0 and statuses(checks) == FRESH
    assert {status for name, (status, _) in checks.items() if name not in NAMES} <= {"ok"}
    assert "canaries passed (bundle defaults-" in checks["models"][1]
    assert "QUALITY sends every face to an operator (pad_model_missing)" in checks["liveness"][1]
    assert "install the liveness bundle" in checks["liveness"][1]


def test_a_presentation_attack_model_and_its_fusion_make_liveness_ok(site) -> None:
    """The check reads the model cards' tasks: a PAD model alone warns of the default rule, with the
    fusion it is ok, and names the error rates the fusion's recipe measured on sources it never saw.
    (Real model files under cards that say so: the check does not run them itself.)"""
    data, env = site
    store = ModelStore(data / "models")
    held_out = {"sources": 17, "bpcer": 0.107143, "apcer": {"print": 0.5, "screen": 0.267717}}
    for name, task in (("site-pad", "presentation_attack"), ("site-fusion", "presentation_attack_fusion")):
        card = store.card("blazeface-short")
        source = store.file_path(card)
        params = {**card.params, "held_out": held_out} if task == "presentation_attack_fusion" else card.params
        installed = msgspec.structs.replace(card, name=name, task=task, params=params)
        store.install(installed, {card.files[0].name: source}, activate=True)
        _, checks = doctor(env)
        if task == "presentation_attack":
            assert checks["liveness"][0] == "warn" and "decides by the default rule" in checks["liveness"][1]
    assert checks["liveness"] == (
        "ok",
        f"fusion site-fusion@{store.active_version('site-fusion')} with site-pad@{store.active_version('site-pad')}; "
        "on sources it never saw: BPCER 10.7%, APCER print 50.0%, screen 26.8% (17 sources, each left out)",
    )


def test_a_corrupted_model_file_fails_the_models_check(site) -> None:
    data, env = site
    store = ModelStore(data / "models")
    damaged = store.file_path(store.card("dlib-sp5"))
    content = bytearray(damaged.read_bytes())
    content[len(content) // 2] ^= 0xFF
    damaged.write_bytes(bytes(content))
    code, checks = doctor(env)
    assert code == 1
    assert statuses(checks) == {**FRESH, "models": "fail"}
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
    assert statuses(checks) == {**FRESH, "permissions": "fail"}
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
            "branch-c", bundle_id=bundle.bundle_id, bundle_version=bundle.bundle_version, models=bundle.models
        )
        store.report_host("retired", bundle_id=None, bundle_version=None, models={}, now=now - timedelta(days=40))
    finally:
        store.close()
    code, checks = doctor(env)
    assert code == 1
    assert statuses(checks) == {**FRESH, "hosts": "fail"}
    detail = checks["hosts"][1]
    assert f"runs bundle {bundle.bundle_id} version 1, but branch-b runs bundle models-6 version 6" in detail
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
            bundle_id=bundle.bundle_id,
            bundle_version=bundle.bundle_version,
            models=bundle.models,
            now=datetime.now(UTC) + timedelta(minutes=10),
        )
    finally:
        store.close()
    code, checks = doctor(env)
    assert code == 1
    assert statuses(checks) == {**FRESH, "clock": "fail"}
    assert "host branch-b (its last report" in checks["clock"][1] and "synchronise the clocks" in checks["clock"][1]


def _register(env: dict[str, str], *parts: tuple[str, str, int, str | None, float]) -> None:
    """Rows of `host_parts` as processes write them: (host, part, pid, role, seconds since last seen)."""
    store = open_store(load_settings(env).resolved_database_url)
    now = datetime.now(UTC)
    try:
        for hostname, part, pid, role, ago in parts:
            seen = now - timedelta(seconds=ago)
            store.beat_host_part(
                hostname, part, pid, role=role, time_started=seen, now=seen, forget_before=seen - timedelta(hours=1)
            )
    finally:
        store.close()


def test_a_running_installation_with_one_leader_is_ok(site) -> None:
    _, env = site
    _register(
        env,
        ("api-1", "api", 11, None, 1),
        ("api-1", "scheduler", 12, "leader", 1),
        ("api-2", "scheduler", 21, "standby", 2),
        ("work-1", "worker:analysis", 31, None, 1),
    )
    code, checks = doctor(env)
    assert code == 0 and statuses(checks) == FRESH
    assert checks["scheduler"][1] == "api-1 leads (pid 12); standby: api-2"
    running = "3 host(s) running: api-1 (api, scheduler), api-2 (scheduler), work-1 (worker:analysis)"
    assert running in checks["hosts"][1]


def test_a_stale_host_and_no_leader_warn(site) -> None:
    """A worker host gone silent, a part of a live host dead, and the leader's host gone with its
    scheduler: the standby has not taken over yet."""
    _, env = site
    _register(
        env,
        ("api-1", "api", 11, None, 1),
        ("api-1", "worker:preview", 13, None, 300),
        ("api-2", "scheduler", 21, "standby", 2),
        ("api-3", "scheduler", 31, "leader", 90),
        ("work-1", "worker:analysis", 41, None, 45),
        ("gone-2025", "api", 51, None, 40 * 86400),
    )
    code, checks = doctor(env)
    assert code == 0 and statuses(checks) == {**FRESH, "hosts": "warn", "scheduler": "warn"}
    hosts = checks["hosts"][1]
    # (the seconds since, counted when the doctor runs, a few after the rows were written)
    assert re.search(r"host api-3 is stale: not seen for (9\d|1\d\d) s \(over 30 s; it ran scheduler\)", hosts)
    assert re.search(r"host work-1 is stale: not seen for [4-9]\d s \(over 30 s; it ran worker:analysis\)", hosts)
    assert "worker:preview (pid 13) on api-1 is stale: not seen for 5 min" in hosts
    assert "gone-2025" not in hosts  # silent for over 30 days: left out
    assert checks["scheduler"][1].startswith("no scheduler leads (standby: api-2)")


def test_two_leaders_warn(site) -> None:
    _, env = site
    _register(env, ("api-1", "scheduler", 11, "leader", 1), ("api-2", "scheduler", 21, "leader", 1))
    code, checks = doctor(env)
    assert code == 0 and checks["scheduler"][0] == "warn"
    assert checks["scheduler"][1].startswith("more than one scheduler leads: api-1 (pid 11), api-2 (pid 21)")


def test_nothing_to_say_of_hosts_and_the_scheduler_while_nothing_runs(site) -> None:
    """A stopped appliance (every part stale): the doctor checks it could run; it does not warn
    that its own processes are not running."""
    _, env = site
    _register(env, ("one-host", "api", 11, None, 600), ("one-host", "scheduler", 12, "leader", 600))
    code, checks = doctor(env)
    assert code == 0 and statuses(checks) == FRESH
    assert checks["scheduler"][1] == "not checked: no process of the appliance runs now"
    assert "no process runs now" in checks["hosts"][1]


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
