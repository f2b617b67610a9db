"""Face tracks of real media: an image, a video, a shot set, a blank image; and their serialisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from appliance.sdk.testing import media_input
from appliance.vision import FaceReason, FaceTrack, VisionService, distance
from appliance.vision.track import best_frame
from tests.support.media_samples import ASTRONAUT_FACE
from tests.vision.conftest import iou


def test_an_image_track_is_one_frame_with_the_face(vision: VisionService, samples: dict[str, Path]) -> None:
    track = vision.face_track(media_input(samples["jpeg"]), max_frames=16)

    assert track.max_frames == 1 and len(track.frames) == 1 and track.best == 0
    frame = track.frames[0]
    assert (frame.index, frame.width, frame.height) == (0, 512, 512)
    assert track.face is frame.face and iou(track.face.box, ASTRONAUT_FACE) >= 0.6
    assert track.quality is not None and track.quality.score == pytest.approx(track.face.score)
    assert track.landmarks is not None and track.landmarks.points.shape == (468, 3)
    assert track.embedding is not None and track.embedding.space == "dlib-resnet-v1"
    assert track.chip is not None and track.chip.shape == (150, 150, 3)
    assert track.reasons == ()
    assert set(track.models) == {"blazeface-full", "facemesh", "dlib-sp5", "dlib-resnet"}
    assert frame.eyes is None  # asked for only where a blink is checked


def test_a_track_with_eyes_is_another_track_with_eyelid_contours(
    vision: VisionService, samples: dict[str, Path]
) -> None:
    media = media_input(samples["jpeg"])
    plain = vision.face_track(media)
    with_eyes = vision.face_track(media, eyes=True)

    assert plain.frames[0].eyes is None
    assert set(with_eyes.models) == set(plain.models) | {"iris"}
    (frame,) = with_eyes.frames
    assert frame.eyes is not None and frame.eyes.lids.shape == (2, 16, 2)


def test_a_video_track_has_faces_in_most_frames(vision: VisionService, samples: dict[str, Path]) -> None:
    still = vision.face_track(media_input(samples["jpeg"]))
    track = vision.face_track(media_input(samples["mp4"]), max_frames=16)

    assert len(track.frames) == 16  # 45 frames, 16 spread evenly
    indices = [f.index for f in track.frames]
    assert indices == sorted(indices) and indices[0] < 3 and indices[-1] > 41
    assert track.frames_with_face >= 14
    assert track.best is not None and track.frames[track.best].face is not None
    assert track.reasons == ()
    assert track.embedding is not None and distance(track.embedding, still.embedding) < 0.6


def test_a_shot_set_track_samples_its_shots(vision: VisionService, samples: dict[str, Path]) -> None:
    track = vision.face_track(media_input(samples["shots_zip"]), max_frames=4)
    assert len(track.frames) == 4
    assert track.frames_with_face >= 3 and track.embedding is not None


def test_a_blank_image_track_says_no_face(vision: VisionService, tmp_path: Path) -> None:
    path = tmp_path / "blank.png"
    Image.fromarray(np.full((240, 320, 3), 90, np.uint8)).save(path)
    track = vision.face_track(media_input(path))

    assert track.reasons == (FaceReason.NO_FACE,)
    assert track.best is None and track.face is None and track.embedding is None and track.chip is None
    assert track.frames[0].reasons == (FaceReason.NO_FACE,)


def test_two_faces_give_the_track_multiple_faces(vision: VisionService, astronaut: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "two.png"
    Image.fromarray(np.concatenate([astronaut, np.ascontiguousarray(astronaut[:, ::-1])], axis=1)).save(path)
    track = vision.face_track(media_input(path))
    assert track.reasons == (FaceReason.MULTIPLE_FACES,)
    assert len(track.frames[0].detections) == 2 and track.embedding is not None


def test_a_track_round_trips_through_a_dict_and_npz(vision: VisionService, samples: dict[str, Path]) -> None:
    track = vision.face_track(media_input(samples["mp4"]), max_frames=6)
    for back in (FaceTrack.from_dict(track.to_dict()), FaceTrack.from_npz(track.to_npz())):
        assert back.to_dict().keys() == track.to_dict().keys()
        assert (back.media_id, back.max_frames, back.best, back.reasons, back.models) == (
            track.media_id,
            track.max_frames,
            track.best,
            track.reasons,
            track.models,
        )
        assert np.array_equal(back.embedding.vector, track.embedding.vector)
        assert np.array_equal(back.chip, track.chip)
        for a, b in zip(back.frames, track.frames, strict=True):
            assert (a.index, a.primary, a.reasons, a.quality) == (b.index, b.primary, b.reasons, b.quality)
            assert [d.box for d in a.detections] == [d.box for d in b.detections]
            assert np.allclose(a.landmarks.points, b.landmarks.points)
    with pytest.raises(ValueError, match="not a face track"):
        FaceTrack.from_npz(b"not an npz")


def test_the_best_frame_weighs_score_sharpness_and_size(vision: VisionService, samples: dict[str, Path]) -> None:
    track = vision.face_track(media_input(samples["mp4"]), max_frames=6)
    frames = track.frames
    assert best_frame(frames) == track.best
    qualities = [f.quality for f in frames if f.quality]
    sharpest, widest = max(q.sharpness for q in qualities), max(q.width_px for q in qualities)
    values = [
        f.quality.score * f.landmarks.presence * f.quality.sharpness / sharpest * f.quality.width_px / widest
        for f in frames
        if f.quality and f.landmarks
    ]
    assert max(values) == pytest.approx(values[track.best])


def test_a_shared_track_cannot_be_changed_in_place(vision: VisionService, samples: dict[str, Path]) -> None:
    track = vision.face_track(media_input(samples["jpeg"]))
    for array in (track.chip, track.embedding.vector, track.face.keypoints, track.landmarks.points):
        with pytest.raises(ValueError, match="read-only"):
            array[0] = 0
    with pytest.raises(TypeError):
        track.models["dlib-resnet"] = "9"  # type: ignore[index]
    assert dict(track.models)["dlib-resnet"] == "0.3.0"
