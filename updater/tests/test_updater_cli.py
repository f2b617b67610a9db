"""The `appliance-update` commands end to end, with their exit codes and one-line refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from _updater_kit import SET_1, bump, write_model

from appliance_updater.cli import main


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def site(tmp_path, capsys):
    """Two vendor keys, a 2-of-2 root, a provisioned appliance."""
    for name in ("alice", "bob"):
        assert run(capsys, "keygen", "--out", tmp_path / name)[0] == 0
    assert (tmp_path / "alice.key").stat().st_mode & 0o777 == 0o600
    code, out, _ = run(
        capsys,
        "root-create",
        "--pub",
        tmp_path / "alice.pub",
        "--pub",
        tmp_path / "bob.pub",
        "--threshold",
        "2",
        "--out",
        tmp_path / "root.json",
    )
    assert code == 0, out
    for name in ("alice", "bob"):
        assert run(capsys, "root-sign", tmp_path / "root.json", "--key", tmp_path / f"{name}.key")[0] == 0
    where = ["--state-dir", tmp_path / "state", "--models-root", tmp_path / "models"]
    code, out, err = run(capsys, "init", *where, "--root", tmp_path / "root.json")
    assert code == 0, err
    assert "threshold 2" in out
    # these models are random bytes: no canaries (test_updater_canary.py runs them on real models)
    (tmp_path / "state" / "config.json").write_text('{"canary_command": null}')
    return tmp_path, where


def build(capsys, tmp: Path, models: dict, version: int, signers=("alice", "bob"), *extra: str) -> Path:
    src = tmp / f"src-{version}"
    for name, spec in models.items():
        write_model(src, name, **spec)
    out = tmp / f"b{version}.tar"
    code, _, err = run(capsys, "build", src, "--out", out, "--id", f"set-{version}", "--version", str(version), *extra)
    assert code == 0, err
    for name in signers:
        assert run(capsys, "sign", out, "--key", tmp / f"{name}.key")[0] == 0
    return out


def test_the_whole_flow(site, capsys):
    tmp, where = site
    b1 = build(capsys, tmp, SET_1, 1)
    code, out, _ = run(capsys, "inspect", b1)
    assert code == 0 and "UNVERIFIED" in out
    code, out, err = run(capsys, "verify", *where, b1)
    assert code == 0, err
    assert "genuine" in out and "2 trusted key(s)" in out
    assert not (tmp / "models" / "det").exists(), "verify wrote to the store"
    code, out, err = run(capsys, "install", *where, "--quiet", b1)
    assert code == 0, err
    assert "det: - -> 1.0.0" in out
    b2 = build(capsys, tmp, bump(SET_1, det="1.1.0"), 2)
    assert run(capsys, "install", *where, b2)[0] == 0
    code, out, _ = run(capsys, "status", *where)
    assert code == 0 and "set-2 version 2" in out and "det: 1.1.0" in out
    code, out, _ = run(capsys, "rollback", *where)
    assert code == 0 and "det: 1.0.0" in out
    code, out, _ = run(capsys, "history", *where)
    events = [json.loads(line)["event"] for line in out.splitlines()]
    assert events == ["init", "installed", "installed", "rolled back"]


def test_exit_codes_and_one_line_refusals(site, capsys):
    tmp, where = site
    b1 = build(capsys, tmp, SET_1, 1)
    assert run(capsys, "install", *where, "--quiet", b1)[0] == 0

    half = build(capsys, tmp, bump(SET_1, det="1.1.0"), 2, ("alice",))
    code, _, err = run(capsys, "install", *where, half)
    assert (code, err.count("\n")) == (3, 1) and err.startswith("appliance-update: refused: ")

    expired = build(capsys, tmp, bump(SET_1, det="1.1.0"), 3, ("alice", "bob"), "--expires-at", "2020-01-01T00:00:00Z")
    code, _, err = run(capsys, "install", *where, expired)
    assert (code, err.count("\n")) == (4, 1) and "expired" in err

    down = build(capsys, tmp, bump(SET_1, det="0.9.0"), 4)
    code, _, err = run(capsys, "install", *where, down)
    assert code == 4 and "downgrade" in err

    cut = tmp / "cut.tar"
    data = build(capsys, tmp, bump(SET_1, det="1.2.0"), 5).read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    code, _, err = run(capsys, "install", *where, cut)
    assert (code, err.count("\n")) == (5, 1) and "truncated" in err

    assert run(capsys, "install", *where, tmp / "missing.tar")[0] == 2
    assert run(capsys, "status", "--state-dir", tmp / "nowhere", "--models-root", tmp / "models")[0] == 2
    with pytest.raises(SystemExit) as exc:
        main(["install"])
    assert exc.value.code == 2


def test_migration_flag_and_the_console_script(site, capsys):
    tmp, where = site
    assert run(capsys, "install", *where, "--quiet", build(capsys, tmp, SET_1, 1))[0] == 0
    new = bump(SET_1, emb="2.0.0")
    new["emb"]["embedding_space"] = "space-b"
    b2 = build(capsys, tmp, new, 2, ("alice", "bob"), "--migrate", "emb:space-a:space-b:re-enrol")
    script = Path(sys.executable).with_name("appliance-update")
    args = [str(script), "install", "--quiet", *map(str, where), str(b2)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "emb: 1.0.0 -> 2.0.0" in proc.stdout
