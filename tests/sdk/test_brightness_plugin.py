"""The BRIGHTNESS test plugin, run through the plugin test kit on real media."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from appliance.sdk import Resolution
from appliance.sdk.testing import run_analyzer, spec_from_plugin
from tests.plugins import brightness_plugin

BRIGHTNESS = spec_from_plugin(brightness_plugin, "BRIGHTNESS")


def decode_jpeg(jpeg: bytes) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a JPEG"
    return image


def test_a_real_portrait_succeeds_with_plausible_figures(astronaut: Path) -> None:
    outcome = run_analyzer(BRIGHTNESS, [(astronaut, ["photo_selfie"])])

    assert outcome.resolution is Resolution.SUCCESS
    (result,) = outcome.results_media
    assert 90 < result.results_data["mean_luma"] < 140
    assert 200 < result.results_data["sharpness"] < 5000
    assert result.results_data["frames"] == 1
    (image,) = result.output_images
    assert image.name == "brightest_frame" and max(decode_jpeg(image.jpeg).shape[:2]) == 96
    assert outcome.model_versions == {"brightness": "1.0"}
    assert (BRIGHTNESS.plugin, BRIGHTNESS.plugin_version) == ("tests.plugins.brightness_plugin", "1.0")


def test_a_black_image_is_declined(astronaut: Path, black: Path) -> None:
    outcome = run_analyzer(BRIGHTNESS, [(astronaut, ["photo_selfie"]), (black, ["photo_id_front"])])

    assert outcome.resolution is Resolution.DECLINED
    assert outcome.results_media[1].results_data == {"mean_luma": 0, "sharpness": 0, "frames": 1}


def test_params_override_the_defaults(astronaut: Path) -> None:
    outcome = run_analyzer(BRIGHTNESS, [(astronaut, [])], params={"min_luma": 200})

    assert outcome.resolution is Resolution.DECLINED
    assert outcome.results_data == {"min_luma": 200, "max_luma": 220}


def test_an_in_range_media_can_be_left_to_an_operator(astronaut: Path, black: Path) -> None:
    params = {"in_range_resolution": "OPERATOR_REQUIRED"}
    assert run_analyzer(BRIGHTNESS, [(astronaut, [])], params=params).resolution is Resolution.OPERATOR_REQUIRED
    assert run_analyzer(BRIGHTNESS, [(black, [])], params=params).resolution is Resolution.DECLINED


def test_a_video_is_measured_on_sampled_frames(ramp_video: Path) -> None:
    outcome = run_analyzer(BRIGHTNESS, [(ramp_video, ["video_selfie"])], params={"max_frames": 4})

    (result,) = outcome.results_media
    assert result.results_data["frames"] == 4
    assert abs(result.results_data["mean_luma"] - 95) < 10  # frames 2, 7, 12, 17 at levels 20..170
    assert decode_jpeg(result.output_images[0].jpeg).mean() > 150  # the brightest, frame 17


def test_raise_error_fails_the_analysis_with_the_message(astronaut: Path) -> None:
    with pytest.raises(RuntimeError, match="^injected fault$"):
        run_analyzer(BRIGHTNESS, [(astronaut, [])], params={"raise_error": "injected fault"})


def test_hold_seconds_delays_the_answer(astronaut: Path) -> None:
    started = time.monotonic()
    outcome = run_analyzer(BRIGHTNESS, [(astronaut, [])], params={"hold_seconds": 0.3})

    assert time.monotonic() - started >= 0.3
    assert outcome.resolution is Resolution.SUCCESS
