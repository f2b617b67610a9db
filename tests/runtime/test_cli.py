"""`appliance models`: list, activate, export-defaults; errors are one line with exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from appliance.cli.models import models
from appliance.runtime import ModelStore
from appliance.runtime.default_export import CANARY_INPUT, default_bundle_id
from appliance.sdk.testing import default_models


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "APPLIANCE_DATA_DIR": str(tmp_path),
        "APPLIANCE_CONFIG": str(tmp_path / "no-config.toml"),
        "APPLIANCE_MODELS_ROOT": str(tmp_path / "models"),
    }


def test_list_and_activate(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(models, ["list"], env=env)
    assert result.exit_code == 0 and "no models in" in result.output and "appliance init" in result.output

    store = ModelStore(default_models(tmp_path / "models"))
    card = store.card("iris")
    store.install(msgspec.structs.replace(card, version="0.7.0"), {card.files[0].name: store.file_path(card)})
    result = runner.invoke(models, ["list"], env=env)
    assert result.exit_code == 0
    header, *lines = result.output.splitlines()
    assert header.split("\t") == ["name", "active", "task", "runtime", "sha256", "other_versions"]
    rows = {line.split("\t")[0]: line.split("\t") for line in lines}
    assert rows["iris"] == ["iris", "0.6.0", "iris_landmarks", "litert", card.sha256[:12], "0.7.0"]
    assert rows["dlib-resnet"][1:4] == ["0.3.0", "face_embedding", "dlib"] and rows["dlib-resnet"][5] == "-"

    result = runner.invoke(models, ["activate", "iris", "0.7.0"], env=env)
    assert result.exit_code == 0 and result.output == "iris: active version is 0.7.0\n"
    assert store.active_version("iris") == "0.7.0"
    assert "\t0.7.0\t" in runner.invoke(models, ["list"], env=env).output


def test_activate_errors_are_one_line(env: dict[str, str]) -> None:
    result = CliRunner().invoke(models, ["activate", "iris", "9.9.9"], env=env)
    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert result.output.startswith("appliance: model iris version 9.9.9 is not in the model store")


def test_export_defaults_writes_a_store_and_canaries_for_appliance_update_build(tmp_path: Path) -> None:
    out = tmp_path / "release"
    result = CliRunner().invoke(models, ["export-defaults", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "blazeface-short 0.6.0 (litert, sha256 3bc182eb9f33)" in result.output
    store = ModelStore(out / "store")
    cards = [store.card(name) for name in store.names()]
    bundle_id = default_bundle_id(cards)
    assert result.output.splitlines()[-1].startswith(
        f"next: appliance-update build {out / 'store'} --out {bundle_id}.bundle --version N --id {bundle_id} --canary "
    )
    for card in cards:
        store.verify(card)
        canary = json.loads((out / "canaries" / f"{card.name}.json").read_text())
        assert canary["input"] == CANARY_INPUT and canary["expected"]["outputs"]
    assert sorted(p.stem for p in (out / "canaries").iterdir()) == store.names()


def test_export_defaults_refuses_a_directory_in_use_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("keep me")
    result = CliRunner().invoke(models, ["export-defaults", "--out", str(tmp_path / "taken")])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert "exists and is not an empty directory" in result.output
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # no temporary directory left
