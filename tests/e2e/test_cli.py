"""The `appliance` command as a technician uses it: init, run, demo, users, and clear one-line errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.live import ADMIN_EMAIL, ADMIN_PASSWORD, REPO_ROOT, appliance_env, free_port

pytestmark = pytest.mark.timeout(180)


def _appliance(env: dict[str, str], *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "appliance.cli", *args],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,  # type: ignore[arg-type]
    )


def test_init_is_idempotent_and_never_prints_the_password(tmp_path: Path) -> None:
    env = appliance_env(tmp_path, free_port())
    first = _appliance(env, "init", "--admin-email", ADMIN_EMAIL)
    assert first.returncode == 0, first.stderr
    assert f"created ADMIN {ADMIN_EMAIL}" in first.stdout
    config = tmp_path / "appliance.toml"
    assert config.stat().st_mode & 0o077 == 0, "the config file holds secrets: owner only"
    secret_before = config.read_text()
    second = _appliance(env, "init", "--admin-email", ADMIN_EMAIL)
    assert second.returncode == 0 and "an ADMIN exists already" in second.stdout
    assert config.read_text() == secret_before
    assert ADMIN_PASSWORD not in first.stdout + first.stderr + second.stdout + second.stderr


def test_init_without_a_password_source_fails_in_one_line(tmp_path: Path) -> None:
    env = appliance_env(tmp_path, free_port())
    del env["APPLIANCE_ADMIN_PASSWORD"]
    result = _appliance(env, "init", stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("appliance: set APPLIANCE_ADMIN_PASSWORD")


def test_bad_setting_is_one_line_and_exit_1(tmp_path: Path) -> None:
    env = appliance_env(tmp_path, free_port(), QUEUE__BACKEND="kafka")
    result = _appliance(env, "users", "list")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "queue.backend" in result.stderr


def test_run_then_demo_then_stop(tmp_path: Path, samples: dict[str, Path]) -> None:
    port = free_port()
    env = appliance_env(tmp_path / "data", port)
    assert _appliance(env, "init", "--admin-email", ADMIN_EMAIL).returncode == 0
    log = (tmp_path / "run.log").open("w+")
    run = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "run", "--analysis-workers", "1"],
        env=env,
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while f"Appliance listening on http://127.0.0.1:{port}" not in (tmp_path / "run.log").read_text():
            assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.2)
        # the terminal gets two lines; each part writes its own log in the data directory
        assert len((tmp_path / "run.log").read_text().splitlines()) == 2, (tmp_path / "run.log").read_text()
        assert "Application startup complete." in (tmp_path / "data" / "logs" / "api.log").read_text()
        # from another terminal, which knows the data directory but not the port: run.lock says where
        another_terminal = {k: v for k, v in env.items() if k != "APPLIANCE_API__PORT"}
        media = ("--media", f"{samples['jpeg']}:photo_selfie", "--media", str(samples["mp4"]))
        demo = _appliance(another_terminal, "demo", "--email", ADMIN_EMAIL, *media)
        assert demo.returncode == 0, demo.stderr
        assert "HTTP Request" not in demo.stdout + demo.stderr  # results only, no client log lines
        # no files at hand: the sample selfie and video, made on the spot
        sampled = _appliance(env, "demo", "--email", ADMIN_EMAIL, "--sample")
        assert sampled.returncode == 0, sampled.stderr
        assert "  QUALITY " in sampled.stdout and "  BIOMETRY " in sampled.stdout, sampled.stdout
        written = _appliance(env, "demo", "--write-sample", str(tmp_path / "samples"))
        assert written.returncode == 0 and sorted(p.name for p in (tmp_path / "samples").iterdir()) == [
            "clip.mp4",
            "selfie.jpg",
        ]
        neither = _appliance(env, "demo", "--email", ADMIN_EMAIL)
        assert neither.returncode == 1 and "give --media FILE[:tags] (repeatable) or --sample" in neither.stderr
        unknown = _appliance(env, "demo", "--email", ADMIN_EMAIL, *media, "--analysis", "liveness")
        assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1, unknown.stderr
        assert "no installed analysis type liveness; installed: " in unknown.stderr
        # no PAD model on a fresh install: QUALITY sends the selfie to an operator, and says why
        assert "FINISHED / OPERATOR_REQUIRED" in demo.stdout and "BRIGHTNESS" in demo.stdout
        assert "pad_model_missing" in demo.stdout
        assert "mean_luma" in demo.stdout
        # a second run on the same data directory, or on the same port, is refused in one line
        again = _appliance(env, "run", "--analysis-workers", "1")
        assert again.returncode == 1 and again.stderr.count("\n") == 1, again.stderr
        assert f"another `appliance run` (pid {run.pid}) serves" in again.stderr
        elsewhere = appliance_env(tmp_path / "other", port)
        assert _appliance(elsewhere, "init", "--admin-email", ADMIN_EMAIL).returncode == 0
        same_port = _appliance(elsewhere, "run", "--analysis-workers", "1")
        assert same_port.returncode == 1 and f"127.0.0.1:{port} is taken" in same_port.stderr, same_port.stderr
    finally:
        run.send_signal(signal.SIGINT)
        assert run.wait(timeout=60) == 0, (tmp_path / "run.log").read_text()
    nothing = _appliance(env, "demo", "--email", ADMIN_EMAIL, "--media", f"{samples['jpeg']}:photo_selfie")
    assert nothing.returncode == 1 and nothing.stderr.count("\n") == 1, nothing.stderr
    assert f"nothing answers at http://127.0.0.1:{port}" in nothing.stderr


def test_users_commands(tmp_path: Path) -> None:
    env = appliance_env(tmp_path, free_port())
    env["APPLIANCE_USER_PASSWORD"] = "operator-pass-1"
    assert _appliance(env, "init", "--admin-email", ADMIN_EMAIL).returncode == 0
    created = _appliance(env, "users", "create", "--email", "ops@appliance.test", "--role", "OPERATOR")
    assert created.returncode == 0 and "created OPERATOR ops@appliance.test" in created.stdout
    duplicate = _appliance(env, "users", "create", "--email", "OPS@appliance.test", "--role", "OPERATOR")
    assert duplicate.returncode == 1 and duplicate.stderr.startswith("appliance: ")
    no_company = _appliance(env, "users", "create", "--email", "c@appliance.test", "--role", "CLIENT")
    assert no_company.returncode == 1 and "company_id" in no_company.stderr
    listing = _appliance(env, "users", "list")
    assert "ops@appliance.test\tOPERATOR" in listing.stdout and "2 users" in listing.stdout
    reset = _appliance(env, "users", "set-password", "ops@appliance.test")
    assert reset.returncode == 0 and "operator-pass-1" not in reset.stdout + reset.stderr
