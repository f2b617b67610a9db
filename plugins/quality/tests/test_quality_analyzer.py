"""QUALITY as the appliance runs it: every part together through the plugin test kit."""

from __future__ import annotations

import os
from pathlib import Path

import appliance_plugin_quality
import cv2
import numpy as np
import pytest
from skimage import data

from appliance.sdk import DEFAULT_MAX_FRAMES, Resolution
from appliance.sdk.testing import default_models, run_analyzer, spec_from_plugin, vision_service

SPEC = spec_from_plugin(appliance_plugin_quality, "QUALITY")
SHARED = Path(os.environ.get("APPLIANCE_TEST_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data")
needs_shared = pytest.mark.skipif(
    not (SHARED / "pad").is_dir(), reason="shared test data directory absent (set APPLIANCE_TEST_DATA)"
)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    astronaut, blank = folder / "astronaut.jpg", folder / "blank.jpg"
    cv2.imwrite(str(astronaut), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(blank), np.full((480, 640, 3), 128, np.uint8))
    return {"astronaut": astronaut, "blank": blank}


def test_without_a_pad_model_a_live_photo_goes_to_an_operator_with_the_reason(
    photos: dict[str, Path], models: Path
) -> None:
    outcome = run_analyzer(SPEC, [(photos["astronaut"], ["photo_selfie"])], models=models)
    (result,) = outcome.results_media
    data_ = result.results_data
    # the model-free cues find no attack, and cannot vouch for a live face: a person must look
    assert outcome.resolution is Resolution.OPERATOR_REQUIRED
    assert outcome.results_data["operator_reasons"] == ["pad_model_missing"] == data_["operator_reasons"]
    assert 0.0 <= data_["confidence_spoofing"] < 0.5
    passive = data_["passive"]
    assert passive["pad_models"] == [] and passive["pad_model_missing"] is True and passive["detectors"]
    assert passive["decided_by"] == "default_rule" and passive["threshold"] == 0.5
    assert set(passive["terms"]) >= {"spectral", "specular"} and "value" in passive["cues"]["spectral"]
    assert data_["best_shot"] is not None and result.output_images[0].name == "best_shot"
    assert "blazeface-full" in outcome.model_versions


def test_gesture_tags_on_a_photo_are_not_applicable(photos: dict[str, Path], models: Path) -> None:
    outcome = run_analyzer(SPEC, [(photos["astronaut"], ["photo_selfie", "video_selfie_left"])], models=models)
    gestures = outcome.results_media[0].results_data["gestures"]
    assert gestures["video_selfie_left"]["applicable"] is False
    assert outcome.resolution is Resolution.OPERATOR_REQUIRED  # not declined for the gesture: no PAD model


def test_no_face_is_declined_with_the_reason(photos: dict[str, Path], models: Path) -> None:
    outcome = run_analyzer(SPEC, [(photos["blank"], ["photo_selfie"])], models=models)
    assert outcome.resolution is Resolution.DECLINED
    reasons = [r["reason"] for r in outcome.results_media[0].results_data["reasons"]]
    assert reasons == ["NO_FACE"] and outcome.results_media[0].results_data["confidence_spoofing"] is None


@needs_shared
def test_without_a_model_no_video_passes_and_the_replay_scores_far_above_the_live_one(models: Path) -> None:
    fake = run_analyzer(
        SPEC, [(SHARED / "pad/spoof/zubair_fake.mp4", ["video_selfie", "video_selfie_blank"])], models=models
    )
    real = run_analyzer(
        SPEC, [(SHARED / "pad/live/zubair_real.mov", ["video_selfie", "video_selfie_blank"])], models=models
    )
    assert Resolution.SUCCESS not in (fake.resolution, real.resolution)
    assert real.resolution is Resolution.OPERATOR_REQUIRED
    scores = [o.results_media[0].results_data["confidence_spoofing"] for o in (fake, real)]
    assert scores[0] > 0.3 and scores[1] < 0.05


def test_a_passive_selfie_shares_the_default_track_and_a_gesture_gets_a_dense_one(tmp_path: Path, models: Path) -> None:
    """`video_selfie_blank` asks for no gesture: QUALITY uses the default track (the one
    BIOMETRY uses too), not the dense gesture track."""
    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (512, 512))
    for _ in range(40):
        writer.write(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    writer.release()
    vision = vision_service(models)  # the service run_analyzer uses for this store: count what each run adds
    assert vision is not None
    for tags, frames in (
        (["video_selfie", "video_selfie_blank"], DEFAULT_MAX_FRAMES),
        (["video_selfie", "video_selfie_eyes"], 40),
    ):
        before = vision.stats.as_dict()
        run_analyzer(SPEC, [(clip, tags)], models=models)
        added = {k: v - before[k] for k, v in vision.stats.as_dict().items()}
        # one track, of the frames QUALITY decoded itself
        assert (added["computed"], added["tracked_frames"], added["decodes"]) == (1, frames, 0), tags
