"""`appliance models`: list, install-defaults, activate; errors are one line with exit status 1."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from appliance.cli.models import models
from appliance.runtime import ModelStore


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "APPLIANCE_DATA_DIR": str(tmp_path),
        "APPLIANCE_CONFIG": str(tmp_path / "no-config.toml"),
        "APPLIANCE_MODELS_ROOT": str(tmp_path / "models"),
    }


def test_install_defaults_list_and_activate(env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(models, ["list"], env=env)
    assert result.exit_code == 0 and "no models in" in result.output and "install-defaults" in result.output

    result = runner.invoke(models, ["install-defaults"], env=env)
    assert result.exit_code == 0, result.output
    assert "blazeface-short 0.6.0 (litert, sha256 3bc182eb9f33): active" in result.output
    assert runner.invoke(models, ["install-defaults"], env=env).output == result.output  # again: the same

    store = ModelStore(tmp_path / "models")
    card = store.card("iris")
    store.install(msgspec.structs.replace(card, version="0.7.0"), {card.files[0].name: store.file_path(card)})
    result = runner.invoke(models, ["list"], env=env)
    assert result.exit_code == 0
    rows = {line.split("\t")[0]: line.split("\t") for line in result.output.splitlines()}
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
