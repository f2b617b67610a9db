"""Canaries before the switch and the health check after it, with the real default models and the real
appliance command (`python -m appliance.cli models canary`), met only on the command line."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from appliance.sdk import testing  # the appliance side of the contract

from appliance_updater.cli import main

APPLIANCE = [sys.executable, "-m", "appliance.cli"]
CANARY = shlex.join([*APPLIANCE, "models", "canary"])


def run(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def vendor(tmp_path_factory) -> dict:
    """The default models (the vendor's store) and two canaries made by the appliance's helper."""
    tmp = tmp_path_factory.mktemp("vendor")
    src = testing.default_models(tmp / "models")
    canaries = {}
    for name in ("blazeface-short", "dlib-resnet"):
        out = tmp / f"{name}.json"
        args = [*APPLIANCE, "models", "canary-make", name, "--root", str(src), "--out", str(out)]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        canaries[name] = out
    return {"src": Path(src), "canaries": canaries, "tmp": tmp}


@pytest.fixture
def site(tmp_path, capsys, vendor):
    for name in ("alice", "bob"):
        assert run(capsys, "keygen", "--out", tmp_path / name)[0] == 0
    root = tmp_path / "root.json"
    pubs = ["--pub", tmp_path / "alice.pub", "--pub", tmp_path / "bob.pub"]
    assert run(capsys, "root-create", *pubs, "--threshold", "2", "--out", root)[0] == 0
    for name in ("alice", "bob"):
        assert run(capsys, "root-sign", root, "--key", tmp_path / f"{name}.key")[0] == 0
    where = ["--state-dir", tmp_path / "state", "--models-root", tmp_path / "models"]
    assert run(capsys, "init", *where, "--root", root)[0] == 0
    # the set installed first: the default models, with their canaries
    b1 = bundle(capsys, tmp_path, vendor, vendor["src"], 1)
    code, _, err = run(capsys, "install", *where, "--quiet", "--canary-command", CANARY, b1)
    assert code == 0, err
    return tmp_path, where


def bundle(capsys, tmp: Path, vendor: dict, src: Path, version: int, canaries: dict | None = None) -> Path:
    out = tmp / f"b{version}.tar"
    flags = []
    for name, file in (canaries or vendor["canaries"]).items():
        flags += ["--canary", f"{name}={file}"]
    code, _, err = run(capsys, "build", src, "--out", out, "--id", f"models-{version}", "--version", version, *flags)
    assert code == 0, err
    for name in ("alice", "bob"):
        assert run(capsys, "sign", out, "--key", tmp / f"{name}.key")[0] == 0
    return out


def new_version(tmp: Path, vendor: dict, name: str = "blazeface-short", version: str = "0.6.0.post99") -> Path:
    """The default models with `name` re-released as `version` (same weights, new card version)."""
    src = tmp / f"src-{version}"
    shutil.copytree(vendor["src"], src, symlinks=True)
    old = (src / name / "active").readlink()
    (src / name / old).rename(src / name / version)
    card = json.loads((src / name / version / "card.json").read_text())
    card["version"] = version
    (src / name / version / "card.json").write_text(json.dumps(card, indent=2))
    (src / name / "active").unlink()
    (src / name / "active").symlink_to(version)
    return src


def active(models: Path) -> dict[str, str]:
    return {p.name: str((p / "active").readlink()) for p in sorted(models.iterdir()) if not p.name.startswith(".")}


def events(capsys, where) -> list[dict]:
    code, out, _ = run(capsys, "history", *where)
    assert code == 0
    return [json.loads(line) for line in out.splitlines()]


def test_correct_canaries_install_and_pass_the_health_check(site, capsys, vendor):
    tmp, where = site
    models = tmp / "models"
    assert active(models)["blazeface-short"] == "0.6.0"
    b2 = bundle(capsys, tmp, vendor, new_version(tmp, vendor), 2)
    code, out, err = run(capsys, "install", *where, "--quiet", "--canary-command", CANARY, b2)
    assert code == 0, err
    assert "blazeface-short: 0.6.0 -> 0.6.0.post99" in out
    assert active(models)["blazeface-short"] == "0.6.0.post99"
    kinds = [e["event"] for e in events(capsys, where)]
    assert kinds[-2:] == ["installed", "health check passed"]
    assert not list(models.glob(".canary-*")) and not list((tmp / "state").glob(".canary-manifest-*"))


def test_a_wrong_expected_output_is_refused_before_the_switch(site, capsys, vendor):
    tmp, where = site
    models = tmp / "models"
    before = active(models)
    wrong = json.loads(vendor["canaries"]["blazeface-short"].read_text())
    wrong["expected"]["outputs"][0]["values"][5] += 1.0
    (tmp / "wrong.json").write_text(json.dumps(wrong))
    canaries = {**vendor["canaries"], "blazeface-short": tmp / "wrong.json"}
    b2 = bundle(capsys, tmp, vendor, new_version(tmp, vendor), 2, canaries)
    code, _out, err = run(capsys, "install", *where, "--quiet", "--canary-command", CANARY, b2)
    assert code == 7, err
    assert err.count("\n") == 1
    assert err.startswith("appliance-update: refused: canary failed before the switch, nothing changed")
    assert "FAIL blazeface-short 0.6.0.post99: canary 1 (builtin:noise:1): output 0 differs" in err
    assert active(models) == before
    assert not (models / "blazeface-short" / "0.6.0.post99").exists()  # never published
    assert not list(models.glob(".canary-*")) and not list(models.glob("*/.staging-upd-*"))
    last = events(capsys, where)[-1]
    assert (last["event"], last["exit_code"]) == ("install refused", 7)


def test_a_failure_after_the_switch_rolls_back_automatically(site, capsys, vendor):
    tmp, where = site
    models = tmp / "models"
    before = active(models)
    # fault injection: a real command that passes on the temporary canary store and fails on the live one
    flaky = tmp / "flaky_canary.py"
    flaky.write_text(
        "import os, sys\n"
        "root = sys.argv[sys.argv.index('--root') + 1]\n"
        "if '.canary-' not in os.path.basename(root):\n"
        "    print('FAIL blazeface-short 0.6.0.post99: injected failure on the live store')\n"
        "    sys.exit(1)\n"
        "os.execv(sys.executable, [sys.executable, '-m', 'appliance.cli', 'models', 'canary', *sys.argv[1:]])\n"
    )
    (tmp / "state" / "config.json").write_text(json.dumps({"canary_command": shlex.join([sys.executable, str(flaky)])}))
    b2 = bundle(capsys, tmp, vendor, new_version(tmp, vendor), 2)
    code, out, err = run(capsys, "install", *where, "--quiet", b2)  # the command from config.json
    assert code == 8, err
    assert "failed the health check after the switch" in err and "injected failure" in err
    assert "rolled back automatically to blazeface-full 0.6.0, blazeface-short 0.6.0" in err
    assert active(models) == before
    assert (models / "blazeface-short" / "0.6.0.post99").is_dir()  # old and new versions stay on disk
    kinds = [e["event"] for e in events(capsys, where)]
    assert kinds[-3:] == ["installed", "health check failed", "rolled back"]
    code, out, _ = run(capsys, "status", *where)
    assert code == 0 and "was rolled back" in out
    # the rolled-back bundle is not installed again; nothing is left to roll back by hand
    assert run(capsys, "install", *where, "--quiet", "--no-canary", b2)[0] == 4
    assert run(capsys, "rollback", *where)[0] == 2


def test_the_canary_command_setting(site, capsys, vendor):
    tmp, where = site
    b2 = bundle(capsys, tmp, vendor, new_version(tmp, vendor), 2)
    # not installed: the default `appliance` command is looked up on PATH; a missing command is a failure
    code, _, err = run(capsys, "install", *where, "--quiet", "--canary-command", "no-such-canary-command", b2)
    assert code == 7 and "'no-such-canary-command' is not installed" in err
    (tmp / "state" / "config.json").write_text("[1]")
    assert run(capsys, "install", *where, "--quiet", b2)[0] == 2
    (tmp / "state" / "config.json").write_text(json.dumps({"canary_command": None}))
    code, _out, err = run(capsys, "install", *where, "--quiet", b2)  # turned off by the setting
    assert code == 0, err
    assert events(capsys, where)[-1]["event"] == "installed"
