"""BIOMETRY on real faces with the real models, through the plugin test kit."""

from __future__ import annotations

import os
from pathlib import Path

import appliance_plugin_biometry
import cv2
import numpy as np
import pytest
from skimage import data

from appliance.sdk import Resolution
from appliance.sdk.testing import run_analyzer, spec_from_plugin

SPEC = spec_from_plugin(appliance_plugin_biometry, "BIOMETRY")
SHARED = Path(os.environ.get("APPLIANCE_TEST_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data")
needs_shared = pytest.mark.skipif(
    not (SHARED / "faces").is_dir(), reason="shared test data directory absent (set APPLIANCE_TEST_DATA)"
)


def _write(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def astronaut(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("faces")
    rgb = data.astronaut()
    return {
        "photo": _write(folder / "astronaut.jpg", rgb),
        "mirrored": _write(folder / "mirrored.jpg", np.ascontiguousarray(rgb[:, ::-1])),
        "blank": _write(folder / "blank.jpg", np.full((480, 640, 3), 128, np.uint8)),
    }


def test_same_face_matches_with_the_crops_as_output(astronaut: dict[str, Path], models: Path) -> None:
    outcome = run_analyzer(
        SPEC,
        [(astronaut["photo"], ["photo_selfie"]), (astronaut["mirrored"], ["photo_id", "photo_id_front"])],
        models=models,
    )
    assert outcome.resolution is Resolution.SUCCESS
    assert 0.85 <= outcome.results_data["min_confidence"] <= outcome.results_data["max_confidence"] <= 1.0
    (pair,) = outcome.results_data["pairs"]
    assert pair["distance"] < 0.6
    for result in outcome.results_media:
        assert result.results_data["face_found"] and result.results_data["embedding_space"] == "dlib-resnet-v1"
        assert result.output_images[0].name == "face" and result.output_images[0].jpeg[:2] == b"\xff\xd8"
    assert "dlib-resnet" in outcome.model_versions and "blazeface-full" in outcome.model_versions


def test_no_face_is_a_clear_decline(astronaut: dict[str, Path], models: Path) -> None:
    outcome = run_analyzer(
        SPEC, [(astronaut["photo"], ["photo_selfie"]), (astronaut["blank"], ["photo_id_front"])], models=models
    )
    assert outcome.resolution is Resolution.DECLINED
    assert outcome.results_data["reason"] == "fewer than two media with a usable face"
    (missing,) = outcome.results_data["media_without_face"].values()
    assert missing == ["NO_FACE"]


def test_back_of_an_id_is_not_compared(astronaut: dict[str, Path], models: Path) -> None:
    with pytest.raises(Exception, match="needs 2 source media"):
        run_analyzer(
            SPEC, [(astronaut["photo"], ["photo_selfie"]), (astronaut["mirrored"], ["photo_id_back"])], models=models
        )


def test_threshold_and_operator_band_decide(astronaut: dict[str, Path], models: Path) -> None:
    pair = [(astronaut["photo"], ["photo_selfie"]), (astronaut["mirrored"], ["photo_id_front"])]
    strict = run_analyzer(SPEC, pair, thresholds={"biometry": 1.0}, models=models)
    assert strict.resolution is Resolution.DECLINED
    banded = run_analyzer(
        SPEC, pair, params={"operator_required_below": 0.5}, thresholds={"biometry": 1.0}, models=models
    )
    assert banded.resolution is Resolution.OPERATOR_REQUIRED


@needs_shared
def test_labelled_faces_same_and_different_people(models: Path) -> None:
    obama, obama2 = SHARED / "faces/barack_obama/obama.jpg", SHARED / "faces/barack_obama/obama2.jpg"
    biden = SHARED / "faces/joe_biden/biden.jpg"
    same = run_analyzer(SPEC, [(obama, ["photo_selfie"]), (obama2, ["photo_id_front"])], models=models)
    assert same.resolution is Resolution.SUCCESS
    different = run_analyzer(SPEC, [(obama, ["photo_selfie"]), (biden, ["photo_id_front"])], models=models)
    assert different.resolution is Resolution.DECLINED and different.results_data["min_confidence"] < 0.5
    several = run_analyzer(
        SPEC, [(obama, ["photo_selfie"]), (obama2, ["photo_selfie"]), (biden, ["photo_id_front"])], models=models
    )
    assert len(several.results_data["pairs"]) == 3 and several.resolution is Resolution.DECLINED
    assert several.results_data["max_confidence"] >= 0.85 > several.results_data["min_confidence"]
