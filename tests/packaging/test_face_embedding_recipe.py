"""The face embedding recipe: published files in, calibrated `face_embedding` models and a signed bundle
out, installed on a site by the updater and used by BIOMETRY."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import appliance_plugin_biometry
import numpy as np
import pytest

from appliance.runtime import ModelRuntime, ModelStore
from appliance.runtime.canary import run_canaries
from appliance.sdk import Resolution
from appliance.sdk.testing import run_analyzer, spec_from_plugin, vision_service
from tests.support.recipes import RECIPES, convert_python, load_recipe
from tests.support.shared_data import SHARED_DATA, SKIP_REASON, shared_file

recipe = load_recipe("face_embedding")
OMZ = shared_file("models/omz_face-reidentification-retail-0095.xml")
LANDMARKS = shared_file("models/omz_landmarks-regression-retail-0009.xml")
MOBILEFACENET = shared_file("models/expo_MobileFaceNet.tflite")
FACES = SHARED_DATA / "faces"
HAVE_MODELS = OMZ is not None and LANDMARKS is not None and MOBILEFACENET is not None and FACES.is_dir()
needs_models = pytest.mark.skipif(not HAVE_MODELS, reason=SKIP_REASON)


@pytest.fixture(scope="module")
def vendor(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The published models converted, calibrated on the shared faces and bundled, as a vendor does."""
    if not HAVE_MODELS:
        pytest.skip(SKIP_REASON)
    root = tmp_path_factory.mktemp("vendor")
    update = str(Path(sys.executable).with_name("appliance-update"))
    subprocess.run([update, "keygen", "--out", str(root / "vendor")], check=True, capture_output=True)
    arguments = ["--model", str(OMZ), "--model", str(LANDMARKS), "--model", str(MOBILEFACENET), "--faces", str(FACES)]
    arguments += ["--store", str(root / "store"), "--bundle", str(root / "embedding.bundle")]
    arguments += ["--convert-python", convert_python()]
    assert recipe.main([*arguments, "--key", str(root / "vendor.key")]) == 0
    return {"root": root, "store": root / "store", "bundle": root / "embedding.bundle", "key": root / "vendor.key"}


@pytest.mark.shared_data
@needs_models
def test_the_published_models_are_installed_with_calibrated_cards(vendor: dict[str, Path]) -> None:
    store = ModelStore(vendor["store"])
    assert store.names() == ["mobilefacenet-expo", "omz-face-reid-0095", "omz-landmarks-0009"]
    omz, mobilefacenet = store.card("omz-face-reid-0095"), store.card("mobilefacenet-expo")
    assert (omz.task, omz.runtime, omz.license, omz.embedding_space) == (
        "face_embedding",
        "onnx",
        "Apache-2.0",
        "omz-face-reid-0095",
    )
    assert (mobilefacenet.runtime, mobilefacenet.license, mobilefacenet.sha256) == (
        "litert",
        "MIT",
        "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b",
    )
    for card in (omz, mobilefacenet):
        points = card.params["operating_points"]
        assert points["default"]["target_fmr"] == 1e-3 and points["strict"]["target_fmr"] == 1e-4
        assert 0 < points["strict"]["distance"] <= points["default"]["distance"] < card.params["nonmatch_distance"]
        assert len(card.params["template"]) == 5
    assert omz.params["alignment"] == "omz-landmarks-0009" and mobilefacenet.params["alignment"] == "facemesh"
    assert omz.params["preference"] == recipe.PREFERRED and "preference" not in mobilefacenet.params
    landmarks = store.card("omz-landmarks-0009")
    assert (landmarks.task, landmarks.runtime, landmarks.license, landmarks.embedding_space) == (
        "face_shape_predictor",
        "onnx",
        "Apache-2.0",
        None,
    )
    assert (landmarks.params["num_parts"], landmarks.params["roi_scale"]) == (5, 1.15)
    # the conversion is reproducible: the same IR gives the same ONNX bytes (onnx pinned)
    assert omz.sha256.startswith("c17c00f9ca81") and landmarks.sha256.startswith("466007610bd5")
    runtime = ModelRuntime(store)
    assert runtime.get("omz-landmarks-0009").invoke([np.zeros((1, 3, 48, 48), np.float32)])[0].shape == (1, 10, 1, 1)
    assert runtime.get("omz-face-reid-0095").invoke([np.zeros((1, 3, 128, 128), np.float32)])[0].shape == (1, 256, 1, 1)
    assert runtime.get("mobilefacenet-expo").invoke([np.zeros((2, 112, 112, 3), np.float32)])[0].shape == (2, 192)


@pytest.mark.shared_data
@needs_models
def test_one_bundle_takes_a_site_to_the_better_embedding_model(
    vendor: dict[str, Path], tmp_path: Path, default_models_root: Path
) -> None:
    """Site side: the updater installs the signed bundle (canaries run by the appliance), the face
    pipeline then embeds with the preferred model and BIOMETRY reports its space and operating point."""
    update = str(Path(sys.executable).with_name("appliance-update"))
    site_models = tmp_path / "site" / "models"
    shutil.copytree(default_models_root, site_models, symlinks=True)
    env = {
        **os.environ,
        "APPLIANCE_UPDATER_STATE_DIR": str(tmp_path / "site" / "state"),
        "APPLIANCE_MODELS_ROOT": str(site_models),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    root = tmp_path / "root.json"
    pub = vendor["root"] / "vendor.pub"
    subprocess.run([update, "root-create", "--pub", str(pub), "--threshold", "1", "--out", str(root)], check=True)
    subprocess.run([update, "root-sign", str(root), "--key", str(vendor["key"])], check=True, capture_output=True)
    subprocess.run([update, "init", "--root", str(root)], check=True, capture_output=True, env=env)
    installed = subprocess.run([update, "install", str(vendor["bundle"])], capture_output=True, text=True, env=env)
    assert installed.returncode == 0, installed.stderr

    site = ModelStore(site_models)
    assert site.active_version("omz-landmarks-0009") == "1.0.0"
    checked = {result.name: result for result in run_canaries(site, site.active_manifest())}
    assert checked["omz-landmarks-0009"].ok and checked["omz-landmarks-0009"].detail == "1 canary passed"
    embedder = vision_service(site_models).embedder()
    assert embedder.model.name == "omz-face-reid-0095" and embedder.aligner.name == "omz-landmarks-0009"
    spec = spec_from_plugin(appliance_plugin_biometry, "BIOMETRY")
    same = sorted((FACES / "tony_blair").iterdir())[:2]
    outcome = run_analyzer(spec, [(same[0], ["photo_selfie"]), (same[1], ["photo_id_front"])], models=site_models)
    assert outcome.resolution is Resolution.SUCCESS
    point = outcome.results_data["operating_point"]
    assert point["embedding_space"] == "omz-face-reid-0095" and point["name"] == "default"
    assert (
        point["distance"]
        == ModelStore(site_models).card("omz-face-reid-0095").params["operating_points"]["default"]["distance"]
    )
    assert "omz-face-reid-0095" in outcome.model_versions and "dlib-resnet" not in outcome.model_versions
    other = sorted((FACES / "vladimir_putin").iterdir())[0]
    different = run_analyzer(spec, [(same[0], ["photo_selfie"]), (other, ["photo_id_front"])], models=site_models)
    assert different.resolution is Resolution.DECLINED


def test_a_file_that_is_no_known_model_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bogus = tmp_path / "model.tflite"
    bogus.write_bytes(b"not a model")
    (tmp_path / "faces" / "a").mkdir(parents=True)
    (tmp_path / "faces" / "b").mkdir()
    arguments = ["--model", str(bogus), "--faces", str(tmp_path / "faces"), "--store", str(tmp_path / "store")]
    assert recipe.main(arguments) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("face_embedding: model.tflite (sha256 ") and "\n" not in error
    assert "not a published embedding model" in error
    assert not (tmp_path / "store").exists()


def test_the_converter_refuses_an_operation_it_does_not_know(tmp_path: Path) -> None:
    xml = tmp_path / "net.xml"
    xml.write_text(
        '<?xml version="1.0"?><net name="n" version="11"><layers>'
        '<layer id="0" name="in" type="Parameter" version="opset1"><data shape="1,4" element_type="f32"/>'
        '<output><port id="0" precision="FP32"><dim>1</dim><dim>4</dim></port></output></layer>'
        '<layer id="1" name="soft" type="SoftMax" version="opset8"><data axis="1"/>'
        '<input><port id="0"><dim>1</dim><dim>4</dim></port></input>'
        '<output><port id="1"><dim>1</dim><dim>4</dim></port></output></layer>'
        "</layers><edges>"
        '<edge from-layer="0" from-port="0" to-layer="1" to-port="0"/>'
        "</edges></net>"
    )
    (tmp_path / "net.bin").write_bytes(b"")
    python = convert_python()
    command = [python, str(RECIPES / "openvino_onnx.py"), "--xml", str(xml), "--onnx", str(tmp_path / "net.onnx")]
    done = subprocess.run(command, capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == "openvino_onnx: operation SoftMax (soft) is not one this converter knows"
    assert not (tmp_path / "net.onnx").exists()
