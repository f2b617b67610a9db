"""The gesture checks against the videos labelled by eye in tests/data/video_labels.csv.

Needs the shared test data (../shared/data or $APPLIANCE_TEST_DATA); skipped without it. Each
video's gesture track is computed once, sampled as the analyzer samples gesture media. Every
labelled video has a blink, so the blink check is also run on cuts of them that have none.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import cv2
import pytest
from appliance_plugin_quality.gestures import check_gesture, gesture_sampling

from appliance.sdk import AnalysisContext, FaceTrack
from appliance.sdk.testing import default_models, media_input, vision_service

SHARED = Path(os.environ.get("APPLIANCE_TEST_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data")
SKIP_REASON = "shared test data directory absent (set APPLIANCE_TEST_DATA)"
LABELS = Path(__file__).parent / "data" / "video_labels.csv"

#: label column -> the tag whose check must agree with it
CHECKS = {
    "turns_left": "video_selfie_left",
    "turns_right": "video_selfie_right",
    "looks_up": "video_selfie_high",
    "looks_down": "video_selfie_down",
    "smiles": "video_selfie_smile",
    "blinks": "video_selfie_eyes",
}


def _labels() -> list[dict[str, str]]:
    with LABELS.open(newline="") as handle:
        return list(csv.DictReader(line for line in handle if not line.startswith("#")))


ROWS = _labels()
pytestmark = pytest.mark.skipif(not (SHARED / "videos").is_dir(), reason=SKIP_REASON)


@pytest.fixture(scope="module")
def vision(tmp_path_factory: pytest.TempPathFactory):
    return vision_service(default_models(tmp_path_factory.mktemp("models")))


def _gesture_track(vision, path: Path) -> FaceTrack:
    media = media_input(path, ["video_selfie_eyes"])
    return AnalysisContext({}, vision=vision).faces(media, max_frames=gesture_sampling(media), eyes=True)


@pytest.fixture(scope="module")
def tracks(vision) -> dict[str, FaceTrack]:
    return {
        row["file"]: _gesture_track(vision, SHARED / row["file"]) for row in ROWS if (SHARED / row["file"]).is_file()
    }


def test_every_labelled_video_is_there() -> None:
    missing = [row["file"] for row in ROWS if not (SHARED / row["file"]).is_file()]
    assert not missing


@pytest.mark.parametrize("column", sorted(CHECKS))
def test_gesture_checks_agree_with_the_labels(tracks: dict[str, FaceTrack], column: str) -> None:
    wrong = []
    checked = 0
    for row in ROWS:
        label = row[column]
        if label not in ("yes", "no") or row["file"] not in tracks:
            continue
        checked += 1
        result = check_gesture(CHECKS[column], tracks[row["file"]])
        if result.passed != (label == "yes"):
            wrong.append((row["file"], label, result.failed_check, result.values))
    assert checked >= 8
    assert not wrong


def _cut(source: Path, keep: list[range], target: Path) -> Path:
    """A video of the frames of `source` in the `keep` ranges, at its frame rate."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    writer = None
    index = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if any(index in part for part in keep):
            if writer is None:
                height, width = frame.shape[:2]
                writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
            writer.write(frame)
        index += 1
    capture.release()
    assert writer is not None
    writer.release()
    return target


#: Cuts without a blink (frame ranges from the labels' notes): the talking bench selfie without its
#: three blinks, and liveportrait_d3 looking down with lowered lids (frames 62-199: no blink there).
NO_BLINK_CUTS = {
    "bench/selfie720p_1mbps.mp4": [range(0, 38), range(50, 75), range(87, 98), range(110, 150)],
    "videos/liveportrait_d3.mp4": [range(62, 200)],
}


@pytest.mark.parametrize("file", sorted(NO_BLINK_CUTS))
def test_blink_check_fails_without_a_blink(vision, file: str, tmp_path: Path) -> None:
    cut = _cut(SHARED / file, NO_BLINK_CUTS[file], tmp_path / "cut.mp4")
    result = check_gesture("video_selfie_eyes", _gesture_track(vision, cut))
    assert result.passed is False, result.values
    assert result.failed_check in ("not_reached", "no_recovery", "no_neutral_frame")
