"""Quality numbers and the reasons NO_FACE, MULTIPLE_FACES and FACE_TOO_SMALL on real images."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from appliance.vision import FaceReason, QualitySettings, VisionService, face_quality, frame_reasons


def test_the_astronauts_quality_numbers(vision: VisionService, astronaut: np.ndarray) -> None:
    (face,) = vision.detect(astronaut)
    quality = face_quality(astronaut, face)

    assert 80 < quality.width_px < 130 and 80 < quality.height_px < 130
    assert quality.area_fraction == pytest.approx(face.area / 512**2)
    assert quality.score == pytest.approx(face.score)
    assert 60 < quality.brightness < 220
    assert quality.sharpness > 100
    assert abs(quality.yaw) < 15 and abs(quality.pitch) < 15 and abs(quality.roll) < 10
    assert frame_reasons([face]) == ()


def test_blur_darkness_and_roll_show_in_the_numbers(vision: VisionService, astronaut: np.ndarray) -> None:
    base = face_quality(astronaut, vision.detect(astronaut)[0])
    blurred = cv2.GaussianBlur(astronaut, (0, 0), 3)
    assert face_quality(blurred, vision.detect(blurred)[0]).sharpness < base.sharpness / 10
    dark = (astronaut // 3).astype(np.uint8)
    assert face_quality(dark, vision.detect(dark)[0]).brightness < base.brightness / 2
    centre = tuple(float(v) for v in vision.detect(astronaut)[0].center)
    turned = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D(centre, -20, 1.0), (512, 512))  # clockwise
    assert face_quality(turned, vision.detect(turned)[0]).roll - base.roll == pytest.approx(20, abs=5)


def test_a_blank_image_gives_no_face(vision: VisionService) -> None:
    assert frame_reasons(vision.detect(np.full((480, 640, 3), 200, np.uint8))) == (FaceReason.NO_FACE,)


def test_two_astronauts_give_multiple_faces(vision: VisionService, astronaut: np.ndarray) -> None:
    both = np.concatenate([astronaut, np.ascontiguousarray(astronaut[:, ::-1])], axis=1)
    assert frame_reasons(vision.detect(both)) == (FaceReason.MULTIPLE_FACES,)


def test_a_much_smaller_second_face_is_not_multiple_faces(vision: VisionService, astronaut: np.ndarray) -> None:
    head = astronaut[20:260, 100:340]
    canvas = np.full((480, 800, 3), 120, np.uint8)
    canvas[:480, :480] = cv2.resize(head, (480, 480))
    canvas[240:440, 560:760] = cv2.resize(head, (200, 200), interpolation=cv2.INTER_AREA)
    faces = vision.detect(canvas)
    assert len(faces) == 2  # both are found, the second under half the first's width
    assert frame_reasons(faces) == ()
    assert frame_reasons(faces, QualitySettings(multiple_min_ratio=0.3)) == (FaceReason.MULTIPLE_FACES,)


def test_a_tiny_face_is_too_small(vision: VisionService, astronaut: np.ndarray) -> None:
    canvas = np.full((480, 640, 3), 128, np.uint8)
    canvas[100:350, 200:450] = cv2.resize(astronaut, (250, 250), interpolation=cv2.INTER_AREA)
    faces = vision.detect(canvas)
    assert len(faces) == 1 and faces[0].width < 60
    assert frame_reasons(faces) == (FaceReason.FACE_TOO_SMALL,)
    assert frame_reasons(faces, QualitySettings(min_face_px=30)) == ()
