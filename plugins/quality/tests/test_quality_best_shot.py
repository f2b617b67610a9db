"""The best shot: the best frame's face as a JPEG that BIOMETRY can take back as a photo."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from appliance_plugin_quality.best_shot import BEST_SHOT_NAME, best_shot, choose_best_frame, face_crop_jpeg
from skimage import data

from appliance.sdk import AnalysisContext
from appliance.sdk.testing import default_models, media_input, vision_service


@pytest.fixture(scope="session")
def quality_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_models(tmp_path_factory.mktemp("models"))


def _write(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_a_photos_best_shot_is_the_photos_face_and_matches_it(tmp_path: Path, quality_models: Path) -> None:
    media = media_input(_write(tmp_path / "astronaut.png", data.astronaut()), ["photo_selfie"])
    ctx = AnalysisContext({}, vision=vision_service(quality_models))
    track = ctx.faces(media)
    shot = best_shot(track, ctx.frames(media))
    assert shot is not None and shot.index == 0 and shot.position == 0
    assert 0 < shot.score <= 1 and set(shot.components) >= {"sharpness", "pose", "eyes_open", "size", "exposure"}
    image = shot.output_image()
    assert image.name == BEST_SHOT_NAME and image.jpeg[:2] == b"\xff\xd8"
    assert shot.to_dict()["frame_index"] == 0
    # fed back as a photo (what an integrator uploads as photo_selfie for BIOMETRY): one face, same person
    (tmp_path / "best_shot.jpg").write_bytes(image.jpeg)
    again = media_input(tmp_path / "best_shot.jpg", ["photo_selfie"])
    fed_back = AnalysisContext({}, vision=vision_service(quality_models)).faces(again)
    assert fed_back.reasons == () and fed_back.embedding is not None and track.embedding is not None
    assert float(np.linalg.norm(fed_back.embedding.vector - track.embedding.vector)) < 0.4


def test_the_best_frame_of_a_video_is_sharp_and_frontal(tmp_path: Path, quality_models: Path) -> None:
    rgb = data.astronaut()
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (512, 512))
    frames = [cv2.GaussianBlur(rgb, (0, 0), 3)] * 4 + [rgb] * 2 + [cv2.GaussianBlur(rgb, (0, 0), 2)] * 4
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    media = media_input(path, ["video_selfie_blank"])
    ctx = AnalysisContext({}, vision=vision_service(quality_models))
    track = ctx.faces(media, max_frames=10)
    chosen = choose_best_frame(track)
    assert chosen is not None and chosen.index in (4, 5) and chosen.jpeg is None
    shot = best_shot(track, ctx.frames(media, max_frames=10))
    assert shot is not None and shot.index == chosen.index and shot.jpeg
    decoded = cv2.imdecode(np.frombuffer(shot.jpeg, np.uint8), cv2.IMREAD_COLOR)
    face_width = chosen.box[2] - chosen.box[0]
    assert face_width * 1.5 < decoded.shape[1] < 512  # the face with a margin, not the whole frame


def test_no_face_no_best_shot(tmp_path: Path, quality_models: Path) -> None:
    media = media_input(_write(tmp_path / "grey.png", np.full((240, 320, 3), 128, np.uint8)), ["photo_selfie"])
    ctx = AnalysisContext({}, vision=vision_service(quality_models))
    assert best_shot(ctx.faces(media), ctx.frames(media)) is None


def test_crop_is_clipped_to_the_frame_and_margin_minus_one_keeps_the_frame() -> None:
    rgb = np.zeros((100, 200, 3), np.uint8)
    crop = cv2.imdecode(np.frombuffer(face_crop_jpeg(rgb, (150, 10, 190, 50), margin=1.0), np.uint8), 1)
    assert crop.shape[:2] == (90, 90)  # x 110..200, y 0..90
    whole = cv2.imdecode(np.frombuffer(face_crop_jpeg(rgb, (150, 10, 190, 50), margin=-1), np.uint8), 1)
    assert whole.shape[:2] == (100, 200)
