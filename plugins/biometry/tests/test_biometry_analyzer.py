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
from appliance.sdk.testing import PluginTestBed, run_analyzer, spec_from_plugin

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


def test_the_result_names_its_operating_point_threshold_and_score(astronaut: dict[str, Path], models: Path) -> None:
    pair = [(astronaut["photo"], ["photo_selfie"]), (astronaut["mirrored"], ["photo_id_front"])]
    default = run_analyzer(SPEC, pair, models=models)
    point = default.results_data["operating_point"]
    assert point == {
        "name": "default",
        "target_fmr": 1e-3,
        "distance": 0.6,
        "threshold": 0.85,
        "embedding_space": "dlib-resnet-v1",
    }
    assert default.results_data["score"] == default.results_data["min_confidence"]
    strict = run_analyzer(SPEC, pair, params={"operating_point": "strict"}, models=models)
    point = strict.results_data["operating_point"]
    assert point["name"] == "strict" and point["target_fmr"] == 1e-4 and point["distance"] < 0.6
    assert point["threshold"] > 0.85  # a closer pair is needed
    assert (strict.resolution is Resolution.SUCCESS) == (strict.results_data["score"] >= point["threshold"])
    with pytest.raises(ValueError, match="operating_point must be one of default, strict, not 'lenient'"):
        run_analyzer(SPEC, pair, params={"operating_point": "lenient"}, models=models)


def test_a_company_chooses_the_strict_operating_point(astronaut: dict[str, Path], models: Path, tmp_path: Path) -> None:
    """The pair matches at the default point but not at the strict one, which the company chose."""
    bed = PluginTestBed(appliance_plugin_biometry, tmp_path, models=models)
    try:
        strict_company = bed.create_company(meta_data={"biometry_operating_point": "strict"})
        other = bed.create_company()
        pair = [(astronaut["photo"], ["photo_selfie"]), (astronaut["mirrored"], ["photo_id_front"])]
        score = run_analyzer(SPEC, pair, models=models).results_data["score"]
        thresholds = {"biometry": score - 0.01}  # the site's threshold lets this pair pass at the default point

        def point_of(company: str) -> tuple[str, Resolution]:
            outcome = run_analyzer(
                SPEC, pair, models=models, services=bed.services, company_id=company, thresholds=thresholds
            )
            return outcome.results_data["operating_point"]["name"], outcome.resolution

        assert point_of(other) == ("default", Resolution.SUCCESS)
        name, resolution = point_of(strict_company)
        assert name == "strict"
        strict_threshold = run_analyzer(SPEC, pair, params={"operating_point": "strict"}, models=models)
        expected = (
            Resolution.SUCCESS
            if score >= strict_threshold.results_data["operating_point"]["threshold"]
            else (Resolution.DECLINED)
        )
        assert resolution is expected
        # the request's param overrides the company's choice
        overridden = run_analyzer(
            SPEC,
            pair,
            params={"operating_point": "default"},
            models=models,
            services=bed.services,
            company_id=strict_company,
        )
        assert overridden.results_data["operating_point"]["name"] == "default"
    finally:
        bed.close()
