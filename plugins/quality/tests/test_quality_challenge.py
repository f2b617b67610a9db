"""A challenge: the gestures a capture session asked for, in its order, each inside its prompt's window."""

from __future__ import annotations

import os
from pathlib import Path

import appliance_plugin_quality
import cv2
import pytest
from appliance_plugin_quality.challenge import Challenge, check_challenge
from appliance_plugin_quality.gestures import gesture_sampling
from skimage import data

from appliance.sdk import AnalysisContext, Resolution
from appliance.sdk.testing import default_models, media_input, run_analyzer, spec_from_plugin, vision_service

SPEC = spec_from_plugin(appliance_plugin_quality, "QUALITY")
SHARED = Path(os.environ.get("APPLIANCE_TEST_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data")
ZUBAIR = SHARED / "pad" / "live" / "zubair_real.mov"
needs_zubair = pytest.mark.skipif(
    not ZUBAIR.is_file(), reason="shared test data directory absent (set APPLIANCE_TEST_DATA)"
)

#: zubair_real.mov (15 frames a second, tests/data/video_labels.csv): he smiles in frames 17-70,
#: turns to his right in 104-131 and to his left in 140-175. Prompts where a capture page would have
#: shown them for what he did.
AS_RECORDED = [("video_selfie_smile", 1.2, 4.6), ("video_selfie_right", 6.9, 8.8), ("video_selfie_left", 9.3, 11.7)]


def _challenge(steps: list[tuple[str, float, float]]) -> dict:
    return {"steps": [{"tag": t, "start_s": a, "end_s": b} for t, a, b in steps], "before_s": 0.8, "after_s": 0.5}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_models(tmp_path_factory.mktemp("models"))


@pytest.mark.shared_data
@needs_zubair
def test_the_gestures_in_the_order_and_windows_asked_for_pass(models: Path) -> None:
    outcome = run_analyzer(
        SPEC, [(ZUBAIR, ["video_selfie"])], params={"challenge": _challenge(AS_RECORDED)}, models=models
    )
    challenge = outcome.results_media[0].results_data["challenge"]
    assert challenge["passed"] is True and challenge["failed_step"] is None
    assert [s["tag"] for s in challenge["steps"]] == [t for t, _, _ in AS_RECORDED]
    assert all(s["passed"] for s in challenge["steps"])
    # no PAD model here: the verdict waits for an operator, the challenge itself passed
    assert outcome.resolution is Resolution.OPERATOR_REQUIRED


@pytest.mark.shared_data
@needs_zubair
@pytest.mark.parametrize(
    ("order", "failed"),
    [
        (["video_selfie_left", "video_selfie_right", "video_selfie_smile"], 0),  # another session's order
        # he turns left 0.4 s after the second prompt would have ended: late, inside its slack, so the
        # second step passes; the third asks for his right turn, which came before its window
        (["video_selfie_smile", "video_selfie_left", "video_selfie_right"], 2),
    ],
)
def test_a_video_recorded_for_another_order_fails_the_step_it_missed(
    models: Path, order: list[str], failed: int
) -> None:
    steps = [(tag, start, end) for tag, (_, start, end) in zip(order, AS_RECORDED, strict=True)]
    outcome = run_analyzer(SPEC, [(ZUBAIR, ["video_selfie"])], params={"challenge": _challenge(steps)}, models=models)
    challenge = outcome.results_media[0].results_data["challenge"]
    assert outcome.resolution is Resolution.DECLINED
    assert (challenge["passed"], challenge["failed_step"], challenge["failed_gesture"]) == (
        False,
        failed,
        order[failed],
    )
    assert challenge["steps"][failed]["failed_check"] in ("not_reached", "not_after_neutral", "no_neutral_frame")


@pytest.mark.shared_data
@needs_zubair
def test_the_windows_follow_the_prompts(models: Path) -> None:
    """The same three gestures, but prompted 3 s earlier: the recording does them too late."""
    early = [(tag, start - 3.0, end - 3.0) for tag, start, end in AS_RECORDED[1:]]
    media = media_input(ZUBAIR, ["video_selfie"])
    track = AnalysisContext({}, vision=vision_service(models)).faces(media, gesture_sampling(media))
    result = check_challenge(Challenge.from_param(_challenge(early)), track, media)
    assert result.failed_step is not None and result.failed_step.step == 0
    assert result.steps[0].window == (0.0, pytest.approx(6.3))


def test_a_still_face_meets_no_challenge_and_a_photo_none_at_all(models: Path, tmp_path: Path) -> None:
    still = tmp_path / "still.avi"
    writer = cv2.VideoWriter(str(still), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (512, 512))
    for _ in range(40):
        writer.write(cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    writer.release()
    challenge = _challenge([("video_selfie_smile", 1.0, 2.5), ("video_selfie_left", 3.0, 3.9)])
    outcome = run_analyzer(SPEC, [(still, ["video_selfie"])], params={"challenge": challenge}, models=models)
    result = outcome.results_media[0].results_data["challenge"]
    assert outcome.resolution is Resolution.DECLINED and result["failed_step"] == 0
    assert result["steps"][0]["failed_check"] == "not_reached"
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    outcome = run_analyzer(SPEC, [(photo, ["photo_selfie"])], params={"challenge": challenge}, models=models)
    assert outcome.resolution is Resolution.DECLINED
    assert outcome.results_media[0].results_data["challenge"]["failed_gesture"] == "video_selfie_smile"


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"steps": []}, "no steps"),
        ({"steps": [{"tag": "video_selfie_scan", "start_s": 1, "end_s": 2}]}, "is not one of"),
        ({"steps": [{"tag": "video_selfie_left", "start_s": 2, "end_s": 1}]}, "ends before it starts"),
        (
            {
                "steps": [
                    {"tag": "video_selfie_left", "start_s": 1, "end_s": 3},
                    {"tag": "video_selfie_smile", "start_s": 2, "end_s": 4},
                ]
            },
            "overlap",
        ),
        ({"steps": [{"tag": "video_selfie_left"}]}, "expected steps of tag, start_s, end_s"),
    ],
)
def test_a_malformed_challenge_is_refused_by_name(param: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Challenge.from_param(param)


def test_flags_of_the_capture_send_the_media_to_an_operator_or_decline_it(models: Path, tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    flags = {"flags": ["virtual_camera"], "camera_label": "OBS Virtual Camera"}
    held = run_analyzer(SPEC, [(photo, ["photo_selfie"])], params={"capture": flags}, models=models)
    assert held.resolution is Resolution.OPERATOR_REQUIRED
    assert "capture_flagged" in held.results_data["operator_reasons"]
    assert held.results_media[0].results_data["capture"]["flags"] == ["virtual_camera"]
    declined = run_analyzer(
        SPEC, [(photo, ["photo_selfie"])], params={"capture": {**flags, "flag_action": "decline"}}, models=models
    )
    assert declined.resolution is Resolution.DECLINED
