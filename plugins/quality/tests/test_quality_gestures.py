"""Active gestures on synthetic media that work everywhere: a photo, and the astronaut turned by warping."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from appliance_plugin_quality.gestures import (
    GESTURE_TAGS,
    GestureSettings,
    check_gesture,
    check_gestures,
    gesture_sampling,
    measure_track,
    requested_gestures,
)
from skimage import data

from appliance.sdk import AnalysisContext, FaceTrack, MediaKind
from appliance.sdk.testing import default_models, media_input, paint_eyes_shut, vision_service

#: The astronaut's face centre x in skimage's 512 x 512 photo (face box about 175-265).
_FACE_CX = 220.0


@pytest.fixture(scope="session")
def quality_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_models(tmp_path_factory.mktemp("models"))


def _turned(rgb: np.ndarray, k: float) -> np.ndarray:
    """The photo with the face's left half (on screen) squeezed by `k` and its right half stretched:
    the nose moves towards the image's left, as when the subject turns to their right."""
    height, width = rgb.shape[:2]
    xs = np.arange(width, dtype=np.float32)
    lo, hi = 150.0, 290.0
    centre = lo + (_FACE_CX - lo) * k
    source = np.where(
        xs < lo,
        xs,
        np.where(
            xs < centre,
            lo + (xs - lo) / k,
            np.where(xs < hi, _FACE_CX + (xs - centre) * (hi - _FACE_CX) / (hi - centre), xs),
        ),
    )
    map_x = np.tile(source, (height, 1)).astype(np.float32)
    map_y = np.tile(np.arange(height, dtype=np.float32)[:, None], (1, width))
    return cv2.remap(rgb, map_x, map_y, cv2.INTER_LINEAR)


def _write_clip(path: Path, squeeze: list[float]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (512, 512))
    assert writer.isOpened()
    rgb = data.astronaut()
    for k in squeeze:
        writer.write(cv2.cvtColor(_turned(rgb, k), cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _track(path: Path, tags: list[str], models: Path) -> tuple[FaceTrack, MediaKind]:
    media = media_input(path, tags)
    ctx = AnalysisContext({}, vision=vision_service(models))
    return ctx.faces(media, max_frames=gesture_sampling(media), eyes=True), media.kind


@pytest.fixture(scope="module")
def turning(tmp_path_factory: pytest.TempPathFactory, quality_models: Path) -> dict[str, FaceTrack]:
    folder = tmp_path_factory.mktemp("turning")
    neutral_then_turn = [1.0] * 9 + [1.0 - 0.75 * i / 20 for i in range(1, 21)]
    clips = {
        "turn": _write_clip(folder / "turn.avi", neutral_then_turn),
        "turned_from_start": _write_clip(folder / "back.avi", [0.3] * 12 + [1.0] * 3),
    }
    return {name: _track(path, ["video_selfie_right"], quality_models)[0] for name, path in clips.items()}


def test_a_warped_turn_is_a_turn_to_the_subjects_right(turning: dict[str, FaceTrack]) -> None:
    yaws = [m.yaw for m in measure_track(turning["turn"])]
    assert abs(yaws[0]) < 10 and min(yaws) < -30  # the nose moved towards the image's left
    right = check_gesture("video_selfie_right", turning["turn"])
    assert right.passed and right.failed_check is None
    assert right.values["neutral_frame"] < right.values["gesture_frame"]
    assert right.values["max_yaw_deg"] > 30
    left = check_gesture("video_selfie_left", turning["turn"])
    assert left.passed is False and left.failed_check == "not_reached"
    # a mirrored recording swaps the sides
    mirrored = GestureSettings(mirrored=True)
    assert check_gesture("video_selfie_left", turning["turn"], mirrored).passed
    assert not check_gesture("video_selfie_right", turning["turn"], mirrored).passed


def test_the_gesture_must_follow_a_neutral_frame(turning: dict[str, FaceTrack]) -> None:
    result = check_gesture("video_selfie_right", turning["turned_from_start"])
    assert result.passed is False and result.failed_check == "not_after_neutral"
    assert result.values["gesture_frame"] is None and result.values["max_yaw_deg"] > 20


def test_a_still_face_makes_no_gesture(turning: dict[str, FaceTrack]) -> None:
    # the first frames of the turning clip are the photo itself: no smile, no nod, no scan there
    track = turning["turn"]
    still = FaceTrack(
        track.media_id, track.max_frames, track.frames[:9], 0, None, None, track.reasons, dict(track.models)
    )
    for tag in ("video_selfie_smile", "video_selfie_down", "video_selfie_high", "video_selfie_scan"):
        result = check_gesture(tag, still)
        assert result.passed is False and result.failed_check == "not_reached", tag
    assert check_gesture("video_selfie_scan", track).passed  # the turn sweeps more than 30 degrees


def test_photos_and_blank_need_no_gesture(tmp_path: Path, quality_models: Path) -> None:
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    tags = ["photo_selfie", "video_selfie_left", "video_selfie_eyes"]
    track, kind = _track(photo, tags, quality_models)
    assert kind is MediaKind.IMAGE
    results = check_gestures(tags, track, kind)
    assert set(results) == {"video_selfie_left", "video_selfie_eyes"}
    assert all(r.applicable is False and r.passed is None for r in results.values())
    assert check_gestures(["photo_selfie"], track, kind) == {}
    blank = check_gesture("video_selfie_blank", track)
    assert blank.applicable is False and blank.passed is None
    assert requested_gestures(["x", "video_selfie_smile", "video_selfie_blank"]) == [
        "video_selfie_smile",
        "video_selfie_blank",
    ]
    assert set(GESTURE_TAGS.values()) == {"left", "right", "down", "high", "smile", "eyes", "scan", "blank"}


def test_gesture_media_sample_densely_enough_for_a_blink(tmp_path: Path) -> None:
    path = _write_clip(tmp_path / "short.avi", [1.0] * 30)  # 3 s at 10 fps
    media = media_input(path, ["video_selfie_eyes"])
    assert gesture_sampling(media) == 30  # every frame: fewer than 15 per second exist
    settings = GestureSettings(sample_fps=5.0)
    assert gesture_sampling(media, settings) == 16  # 3 s x 5 fps = 15, raised to the minimum


def test_settings_come_from_params() -> None:
    settings = GestureSettings.from_params({"turn_deg": "25", "mirrored": True, "hold_frames": 3, "other": 1})
    assert settings.turn_deg == 25.0 and settings.mirrored is True and settings.hold_frames == 3


def test_a_zip_shot_set_is_checked_like_a_video(tmp_path: Path, quality_models: Path) -> None:
    rgb = data.astronaut()
    squeeze = [1.0] * 4 + [0.8, 0.6, 0.45, 0.35, 0.3, 0.3]
    path = tmp_path / "shots.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i, k in enumerate(squeeze):
            ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(_turned(rgb, k), cv2.COLOR_RGB2BGR))
            assert ok
            archive.writestr(f"shot_{i:02d}.jpg", jpeg.tobytes())
    tags = ["video_selfie_right", "video_selfie_left"]
    track, kind = _track(path, tags, quality_models)
    assert kind is MediaKind.SHOTS_SET and len(track.frames) == len(squeeze)
    results = check_gestures(tags, track, kind)
    assert results["video_selfie_right"].passed is True
    assert results["video_selfie_left"].passed is False


def _shut_eyes(rgb: np.ndarray, models: Path, folder: Path) -> np.ndarray:
    photo = folder / "photo.png"
    cv2.imwrite(str(photo), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    (frame,) = _track(photo, [], models)[0].frames
    assert frame.eyes is not None
    return paint_eyes_shut(rgb, frame.eyes)


def _write_frames(path: Path, frames: list[np.ndarray]) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (512, 512))
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def test_a_blink_inside_the_video(tmp_path: Path, quality_models: Path) -> None:
    rgb = data.astronaut()
    shut = _shut_eyes(rgb, quality_models, tmp_path)
    blink = _write_frames(tmp_path / "blink.avi", [rgb] * 12 + [shut] * 3 + [rgb] * 12)
    stare = _write_frames(tmp_path / "stare.avi", [rgb] * 27)
    closing = _write_frames(tmp_path / "closing.avi", [rgb] * 12 + [shut] * 15)

    passed = check_gesture("video_selfie_eyes", _track(blink, ["video_selfie_eyes"], quality_models)[0])
    assert passed.passed is True, passed.values
    assert 12 <= passed.values["closed_frame"] <= 14
    failed = check_gesture("video_selfie_eyes", _track(stare, ["video_selfie_eyes"], quality_models)[0])
    assert (failed.passed, failed.failed_check) == (False, "not_reached")
    failed = check_gesture("video_selfie_eyes", _track(closing, ["video_selfie_eyes"], quality_models)[0])
    assert (failed.passed, failed.failed_check) == (False, "no_recovery")


def test_the_blink_check_needs_eyelid_contours(tmp_path: Path, quality_models: Path) -> None:
    rgb = data.astronaut()
    track, _ = _track(_write_frames(tmp_path / "clip.avi", [rgb] * 20), ["video_selfie_eyes"], quality_models)
    without_eyes = dataclasses.replace(track, frames=tuple(dataclasses.replace(f, eyes=None) for f in track.frames))
    result = check_gesture("video_selfie_eyes", without_eyes)
    assert (result.passed, result.failed_check) == (False, "no_eye_landmarks")
