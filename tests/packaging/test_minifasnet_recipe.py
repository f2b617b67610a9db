"""The MiniFASNet model recipe: a local ONNX file in, an installed `presentation_attack` model out."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from appliance.runtime import ModelRuntime, ModelStore
from tests.support.shared_data import SKIP_REASON, shared_file

ROOT = Path(__file__).resolve().parents[2]
ONNX = shared_file("models/minifas_best_model.onnx")
ONNX_INT8 = shared_file("models/minifas_best_model_quantized.onnx")
needs_weights = pytest.mark.skipif(ONNX is None or ONNX_INT8 is None, reason=SKIP_REASON)


def load_recipe() -> ModuleType:
    spec = importlib.util.spec_from_file_location("minifasnet_recipe", ROOT / "packaging" / "recipes" / "minifasnet.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


recipe = load_recipe()


@pytest.mark.shared_data
@needs_weights
def test_the_published_file_installs_with_its_card(tmp_path: Path) -> None:
    assert recipe.main(["--onnx", str(ONNX), "--store", str(tmp_path), "--activate"]) == 0
    store = ModelStore(tmp_path)
    card = store.card("minifasnet-v2se")
    assert (card.version, card.task, card.runtime, card.license) == (
        "1.0.0",
        "presentation_attack",
        "onnx",
        "Apache-2.0",
    )
    assert card.source.startswith("https://github.com/johnraivenolazo/face-antispoof-onnx/")
    assert card.sha256 == "af2381b88f38769222ed93379e12444e2a50814575de1c46170de570c55a42b6"
    assert card.params["input_size"] == [128, 128] and card.params["crop_scale"] == 1.5
    assert card.params["live_index"] == 0 and card.params["output"] == "logits"
    on_disk = json.loads((tmp_path / "minifasnet-v2se" / "1.0.0" / "card.json").read_text())
    assert on_disk["params"]["border"] == "reflect_101"
    # it runs: two logits per face
    out = ModelRuntime(store).get("minifasnet-v2se").invoke([np.zeros((2, 3, 128, 128), np.float32)])
    assert out[0].shape == (2, 2)
    # a second run changes nothing
    assert recipe.main(["--onnx", str(ONNX), "--store", str(tmp_path), "--activate"]) == 0
    assert store.versions("minifasnet-v2se") == ["1.0.0"]


@pytest.mark.shared_data
@needs_weights
def test_the_int8_file_is_another_model_and_not_activated_unless_asked(tmp_path: Path) -> None:
    card = recipe.install(ONNX_INT8, tmp_path, activate=False)
    assert card.name == "minifasnet-v2se-int8"
    assert ModelStore(tmp_path).active_version("minifasnet-v2se-int8") is None


@pytest.mark.shared_data
@needs_weights
def test_an_unknown_file_needs_a_version(tmp_path: Path) -> None:
    copy = tmp_path / "retrained.onnx"
    shutil.copy(ONNX, copy)
    with copy.open("ab") as fh:  # an unknown protobuf field (number 100, varint 1): same graph, another sha256
        fh.write(b"\xa0\x06\x01")
    with pytest.raises(ValueError, match="give --version"):
        recipe.build_card(copy)
    card = recipe.install(copy, tmp_path / "store", version="2.0.0", source="site retraining 2026-11")
    assert (card.name, card.version, card.source) == ("minifasnet-local", "2.0.0", "site retraining 2026-11")


def test_a_file_that_is_no_onnx_graph_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"not a model")
    assert recipe.main(["--onnx", str(bogus), "--store", str(tmp_path / "store"), "--version", "1.0.0"]) == 1
    assert not (tmp_path / "store").exists()
