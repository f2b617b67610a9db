"""The MiniFASNet model recipe: a local ONNX file in, an installed `presentation_attack` model out."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from appliance.runtime import ModelRuntime, ModelStore
from appliance.sdk import AnalysisContext
from appliance.sdk.testing import vision_service
from tests.support.recipes import load_recipe
from tests.support.shared_data import SKIP_REASON, shared_file

ROOT = Path(__file__).resolve().parents[2]
ONNX = shared_file("models/minifas_best_model.onnx")
ONNX_INT8 = shared_file("models/minifas_best_model_quantized.onnx")
needs_weights = pytest.mark.skipif(ONNX is None or ONNX_INT8 is None, reason=SKIP_REASON)


recipe = load_recipe("minifasnet")


def _is_published_pad_card(card) -> bool:
    return (card.version, card.task, card.runtime, card.license) == (
        "1.0.0",
        "presentation_attack",
        "onnx",
        "Apache-2.0",
    )


@pytest.mark.shared_data
@needs_weights
def test_the_published_file_installs_with_its_card(tmp_path: Path) -> None:
    assert recipe.main(["--onnx", str(ONNX), "--store", str(tmp_path), "--activate"]) == 0
    store = ModelStore(tmp_path)
    card = store.card("minifasnet-v2se")
    assert _is_published_pad_card(card)
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


SILENT_FACE = [
    shared_file(f"models/{f}")
    for f in ("silentface_2.7_80x80_MiniFASNetV2.pth", "silentface_4_0_0_80x80_MiniFASNetV1SE.pth")
]
needs_pth = pytest.mark.skipif(any(f is None for f in SILENT_FACE), reason=SKIP_REASON)


def _pth_args() -> list[str]:
    return [arg for path in SILENT_FACE for arg in ("--pth", str(path))]


@pytest.fixture(scope="module")
def silent_face_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Silent-Face pair converted and installed into an empty directory, as a vendor does."""
    if any(f is None for f in SILENT_FACE):
        pytest.skip(SKIP_REASON)
    root = tmp_path_factory.mktemp("vendor")
    assert recipe.main([*_pth_args(), "--store", str(root), "--activate"]) == 0
    return root


@pytest.mark.shared_data
@needs_pth
def test_the_silent_face_weights_are_converted_and_installed(silent_face_store: Path) -> None:
    store = ModelStore(silent_face_store)
    assert sorted(store.names()) == ["silentface-v1se-4.0", "silentface-v2-2.7"]
    for name, scale in (("silentface-v2-2.7", 2.7), ("silentface-v1se-4.0", 4.0)):
        card = store.card(name)
        assert _is_published_pad_card(card)
        assert card.source.startswith("https://github.com/minivision-ai/Silent-Face-Anti-Spoofing/blob/b6d5f04ad787")
        assert card.params["crop"] == "box_inside" and card.params["crop_scale"] == scale
        assert card.params["color"] == "BGR" and card.params["live_index"] == 1
        out = ModelRuntime(store).get(name).invoke([np.zeros((2, 3, 80, 80), np.float32)])
        assert out[0].shape == (2, 3)
    # the conversion is reproducible: the same weights give the same ONNX bytes (torch and onnx pinned)
    assert store.card("silentface-v2-2.7").sha256.startswith("8a5e4011e7a7")


@pytest.mark.shared_data
@needs_pth
def test_a_file_that_is_no_state_dict_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bogus = tmp_path / "weights.pth"
    bogus.write_bytes(b"not a state dict")
    assert recipe.main(["--pth", str(bogus), "--version", "1.0.0", "--store", str(tmp_path / "store")]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("minifasnet: weights.pth is not a PyTorch state dict") and "\n" not in error
    assert not (tmp_path / "store").exists()


@pytest.mark.shared_data
@needs_pth
def test_one_usb_bundle_takes_a_fresh_install_to_a_pad_model(tmp_path: Path, default_models_root: Path) -> None:
    """Vendor side: recipe -> signed bundle; site side: the updater installs it (canaries run by the
    appliance) and QUALITY's PAD slot finds the models."""
    update = [str(Path(sys.executable).with_name("appliance-update"))]
    keys = tmp_path / "keys"
    keys.mkdir()
    subprocess.run([*update, "keygen", "--out", str(keys / "vendor")], check=True, capture_output=True)
    bundle = tmp_path / "pad.bundle"
    vendor = tmp_path / "vendor"
    assert (
        recipe.main([*_pth_args(), "--store", str(vendor), "--bundle", str(bundle), "--key", str(keys / "vendor.key")])
        == 0
    )

    site_models = tmp_path / "site" / "models"
    shutil.copytree(default_models_root, site_models, symlinks=True)
    env = {
        **os.environ,
        "APPLIANCE_UPDATER_STATE_DIR": str(tmp_path / "site" / "state"),
        "APPLIANCE_MODELS_ROOT": str(site_models),
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    root = tmp_path / "root.json"
    subprocess.run(
        [*update, "root-create", "--pub", str(keys / "vendor.pub"), "--threshold", "1", "--out", str(root)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*update, "root-sign", str(root), "--key", str(keys / "vendor.key")], check=True, capture_output=True
    )
    subprocess.run([*update, "init", "--root", str(root)], check=True, capture_output=True, env=env)
    assert ModelStore(site_models).active_version("silentface-v2-2.7") is None
    installed = subprocess.run([*update, "install", str(bundle)], capture_output=True, text=True, env=env)
    assert installed.returncode == 0, installed.stderr
    runtime = ModelRuntime(ModelStore(site_models))
    assert {"silentface-v2-2.7", "silentface-v1se-4.0"} <= set(runtime.active_versions())
    ctx = AnalysisContext({}, vision=vision_service(site_models))
    assert sorted(m.name for m in ctx.models("presentation_attack")) == ["silentface-v1se-4.0", "silentface-v2-2.7"]
