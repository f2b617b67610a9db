"""BlazeFace on real images: boxes where the face is, keypoints on it, EXIF orientation, NMS."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from appliance.media.decode import load_image_rgb
from appliance.runtime import ModelRuntime
from appliance.vision import VisionService
from appliance.vision.detector import FULL_RANGE, SHORT_RANGE, detect_faces, options_for, ssd_anchors, weighted_nms
from tests.support.media_samples import ASTRONAUT_FACE
from tests.vision.conftest import iou


def test_anchor_counts_match_the_models() -> None:
    assert ssd_anchors(SHORT_RANGE).shape == (896, 2)
    assert ssd_anchors(FULL_RANGE).shape == (2304, 2)
    full = ssd_anchors(FULL_RANGE)
    assert full[0] == pytest.approx((0.5 / 48, 0.5 / 48))  # cell centres, row by row
    assert full[1] == pytest.approx((1.5 / 48, 0.5 / 48))


@pytest.mark.parametrize("name", ["blazeface-short", "blazeface-full"])
def test_card_params_give_the_documented_options(runtime: ModelRuntime, name: str) -> None:
    expected = SHORT_RANGE if name == "blazeface-short" else FULL_RANGE
    assert options_for(runtime.get(name)) == expected


@pytest.mark.parametrize("name", ["blazeface-short", "blazeface-full"])
def test_the_astronaut_has_one_face_where_it_is(runtime: ModelRuntime, astronaut: np.ndarray, name: str) -> None:
    (face,) = detect_faces(runtime.get(name), astronaut)

    assert face.score > 0.8
    assert iou(face.box, ASTRONAUT_FACE) >= 0.6
    x0, y0, x1, y1 = face.box
    assert face.keypoints.shape == (6, 2)
    assert np.all((face.keypoints[:4, 0] > x0) & (face.keypoints[:4, 0] < x1))
    assert np.all((face.keypoints[:4, 1] > y0) & (face.keypoints[:4, 1] < y1))
    right_eye, left_eye, nose, mouth = face.keypoints[:4]
    assert right_eye[0] < nose[0] < left_eye[0]  # the subject's right eye is on the image's left
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]


def test_boxes_come_back_in_source_pixels_whatever_the_shape(vision: VisionService, astronaut: np.ndarray) -> None:
    # the astronaut pasted at (300, 40) into a wide canvas: letterboxing must be undone
    canvas = np.full((400, 1100, 3), 90, np.uint8)
    canvas[40:340, 300:600] = astronaut[0:300, 100:400]
    (face,) = vision.detect(canvas)
    expected = (ASTRONAUT_FACE[0] + 200, ASTRONAUT_FACE[1] + 40, ASTRONAUT_FACE[2] + 200, ASTRONAUT_FACE[3] + 40)
    assert iou(face.box, expected) >= 0.6


def test_exif_orientation_is_applied_before_detection(
    vision: VisionService, astronaut: np.ndarray, tmp_path: Path
) -> None:
    # a camera stores the pixels sideways and says so in EXIF: Orientation 6 = turn 90 degrees clockwise
    sideways = np.ascontiguousarray(np.rot90(astronaut, k=1))  # 90 degrees counter-clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "camera.jpg"
    buffer = io.BytesIO()
    Image.fromarray(sideways).save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    path.write_bytes(buffer.getvalue())

    (face,) = vision.detect(load_image_rgb(path))
    assert iou(face.box, ASTRONAUT_FACE) >= 0.6
    raw = cv2.imread(str(path), cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)[..., ::-1]
    assert all(iou(f.box, ASTRONAUT_FACE) < 0.3 for f in vision.detect(np.ascontiguousarray(raw)))


def test_the_shared_exif_sample_finds_the_face_where_the_rotation_puts_it(
    vision: VisionService, samples: dict[str, Path]
) -> None:
    # the sample holds rows 64..448 of the astronaut, upright pixels, tagged Orientation 6: it is
    # shown turned 90 degrees clockwise, 384 wide and 512 high, the face lying on its side at
    # x = 383 - (y - 64), y = x of the original
    rgb = load_image_rgb(samples["exif_rotated_jpeg"])
    assert rgb.shape == (512, 384, 3)
    x0, y0, x1, y1 = ASTRONAUT_FACE
    expected = (383 - (y1 - 64), x0, 383 - (y0 - 64), x1)
    faces = vision.detect(rgb)
    assert faces and iou(faces[0].box, expected) >= 0.6


def test_two_faces_side_by_side_are_two_detections(vision: VisionService, astronaut: np.ndarray) -> None:
    both = np.concatenate([astronaut, np.ascontiguousarray(astronaut[:, ::-1])], axis=1)
    faces = sorted(vision.detect(both), key=lambda f: f.box[0])
    assert len(faces) == 2
    assert iou(faces[0].box, ASTRONAUT_FACE) >= 0.6
    mirrored = (1023 - ASTRONAUT_FACE[2], ASTRONAUT_FACE[1], 1023 - ASTRONAUT_FACE[0], ASTRONAUT_FACE[3])
    assert iou(faces[1].box, mirrored) >= 0.6


@pytest.mark.parametrize("shape", [(480, 640, 3), (33, 17, 3)])
def test_a_blank_image_has_no_face(vision: VisionService, shape: tuple[int, int, int]) -> None:
    assert vision.detect(np.full(shape, 128, np.uint8)) == []


def test_weighted_nms_averages_overlapping_boxes_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=np.float32)
    points = np.zeros((3, 6, 2), np.float32)
    scores = np.array([0.9, 0.3, 0.8], dtype=np.float32)
    merged = weighted_nms(boxes, points, scores, iou=0.3)
    assert [score for _, _, score in merged] == pytest.approx([0.9, 0.8])
    assert merged[0][0] == pytest.approx([0.25, 0.25, 10.25, 10.25])
    assert merged[1][0] == pytest.approx([50, 50, 60, 60])


@pytest.mark.parametrize("margin", [0.0, 0.05])
def test_a_face_that_fills_the_frame_is_found(vision: VisionService, astronaut: np.ndarray, margin: float) -> None:
    # a tight crop of the face (a PAD sample, an ID portrait): full range alone finds nothing here
    x0, y0, x1, y1 = ASTRONAUT_FACE
    side = x1 - x0
    pad = round(side * margin)
    crop = np.ascontiguousarray(astronaut[y0 - pad : y1 + pad, x0 - pad : x1 + pad])
    (face,) = vision.detect(crop)

    assert face.score > 0.5
    expected = (float(pad), float(pad), float(pad + side), float(pad + side))
    assert iou(face.box, expected) >= 0.5
    right_eye, left_eye, nose, _ = face.keypoints[:4]
    assert 0 < right_eye[0] < nose[0] < left_eye[0] < crop.shape[1]  # keypoints in the crop's own pixels


def test_a_close_face_without_its_retry_goes_unfound(runtime: ModelRuntime, astronaut: np.ndarray) -> None:
    # the reason for the retry: the same crop in the detector's own letterbox has no face
    x0, y0, x1, y1 = ASTRONAUT_FACE
    crop = np.ascontiguousarray(astronaut[y0:y1, x0:x1])
    from appliance.vision.detector import _detect

    assert _detect(runtime.get("blazeface-full"), crop, FULL_RANGE, FULL_RANGE.min_score) == []


@pytest.mark.shared_data
def test_every_shared_face_crop_and_identity_photo_has_its_face(vision: VisionService) -> None:
    from tests.support.shared_data import SHARED_DATA, SKIP_REASON

    if not (SHARED_DATA / "manifest.csv").is_file():
        pytest.skip(SKIP_REASON)
    images = sorted(
        path
        for folder in ("pad/live", "pad/spoof", "faces")
        for path in (SHARED_DATA / folder).rglob("*")
        if path.suffix.lower() in {".jpg", ".jpeg", ".png"}
    )
    missed = [str(path.relative_to(SHARED_DATA)) for path in images if not vision.detect(load_image_rgb(path))]
    assert len(images) > 400
    assert missed == []
