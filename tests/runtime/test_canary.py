"""Canaries on the real default models: `appliance models canary` / `canary-make` (docs/updater.md, "Canaries")."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from appliance.cli.models import models
from appliance.runtime import ModelStore
from appliance.runtime.canary import encode_npz, make_canary, run_canaries


@pytest.fixture(scope="module")
def manifest(default_models_root: Path) -> dict:
    """A manifest-shaped object listing every default model with one canary each."""
    store = ModelStore(default_models_root)
    return {
        "models": [
            {"name": n, "version": store.active_version(n), "canaries": [make_canary(store, n)]} for n in store.names()
        ]
    }


def test_correct_canaries_pass_on_every_default_model(shared_store: ModelStore, manifest: dict) -> None:
    results = run_canaries(shared_store, manifest)
    assert [r.name for r in results] == shared_store.names()
    assert all(r.ok for r in results), [r.line() for r in results]
    assert all(r.line().startswith("ok ") for r in results)
    # without a manifest: every active model is loaded and run once on a gray input
    assert all(r.ok and "no canaries" in r.detail for r in run_canaries(shared_store))


def test_a_wrong_expected_output_or_shape_fails(shared_store: ModelStore, manifest: dict) -> None:
    wrong = copy.deepcopy(manifest)
    out = wrong["models"][0]["canaries"][0]["expected"]["outputs"][0]
    out["values"][3] += 0.5
    wrong["models"][1]["canaries"][0]["expected"]["outputs"][0]["shape"][0] = 7
    results = run_canaries(shared_store, wrong)
    assert [r.ok for r in results[:2]] == [False, False] and all(r.ok for r in results[2:])
    assert "differs" in results[0].detail and "expected" in results[0].detail
    assert "shape" in results[1].detail
    # a tolerance wide enough accepts the first difference
    wrong["models"][0]["canaries"][0]["tolerance"] = 1.0
    assert run_canaries(shared_store, wrong)[0].ok


def test_npz_inputs_and_the_version_the_manifest_lists(shared_store: ModelStore) -> None:
    image = np.random.default_rng(5).integers(0, 256, (120, 100, 3)).astype(np.uint8)
    canary = make_canary(shared_store, "dlib-sp5", encode_npz([image]))
    assert canary["expected"]["outputs"][0]["shape"] == [5, 2]
    listed = {"models": [{"name": "dlib-sp5", "version": "0.3.0", "canaries": [canary]}]}
    assert run_canaries(shared_store, listed)[0].ok
    listed["models"][0]["version"] = "9.9.9"
    result = run_canaries(shared_store, listed)[0]
    assert not result.ok and "manifest lists 9.9.9" in result.detail


def test_the_cli_contract(store: ModelStore, manifest: dict, tmp_path: Path) -> None:
    runner = CliRunner()
    file = tmp_path / "manifest.json"
    file.write_text(json.dumps(manifest))
    result = runner.invoke(models, ["canary", "--root", str(store.root), "--manifest", str(file)])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) == len(store.names())
    assert "ok blazeface-short 0.6.0: 1 canary passed" in result.output

    # the vendor's helper writes a canary usable by `appliance-update build --canary MODEL=FILE.json`
    out = tmp_path / "iris.json"
    result = runner.invoke(models, ["canary-make", "iris", "--root", str(store.root), "--out", str(out)])
    assert result.exit_code == 0, result.output
    made = json.loads(out.read_text())
    assert made["input"] == "builtin:noise:1" and made["tolerance"] == 1e-4
    assert made == next(m for m in manifest["models"] if m["name"] == "iris")["canaries"][0]

    # a damaged model file: a load failure, exit status 1, the other models still reported
    card = store.card("iris")
    store.file_path(card).write_bytes(b"broken")
    result = runner.invoke(models, ["canary", "--root", str(store.root), "--manifest", str(file)])
    assert result.exit_code == 1
    assert "FAIL iris 0.6.0: cannot load" in result.output
    assert "ok facemesh 0.6.0" in result.output
    result = runner.invoke(models, ["canary", "--root", str(store.root)])
    assert result.exit_code == 1 and "FAIL iris" in result.output

    file.write_text("{not json")
    assert runner.invoke(models, ["canary", "--root", str(store.root), "--manifest", str(file)]).exit_code == 2
