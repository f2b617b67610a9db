"""FaceMesh on the astronaut: 468 points on the face, in source pixels, following a rotation."""

from __future__ import annotations

import cv2
import numpy as np

from appliance.vision import VisionService
from appliance.vision.landmarks import face_roi


def _enlarged(box: tuple[float, float, float, float], factor: float) -> tuple[float, float, float, float]:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    half_w, half_h = (box[2] - box[0]) * factor / 2, (box[3] - box[1]) * factor / 2
    return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def test_468_landmarks_on_the_astronauts_face(vision: VisionService, astronaut: np.ndarray) -> None:
    (face,) = vision.detect(astronaut)
    landmarks = vision.landmarks(astronaut, face)

    assert landmarks.points.shape == (468, 3) and landmarks.points.dtype == np.float32
    assert landmarks.presence > 0.9
    x0, y0, x1, y1 = _enlarged(face.box, 1.3)
    xs, ys = landmarks.points[:, 0], landmarks.points[:, 1]
    assert np.mean((xs > x0) & (xs < x1) & (ys > y0) & (ys < y1)) >= 0.95
    # FaceMesh indices: 1 nose tip, 33 / 263 outer eye corners (image left / right), 152 chin
    nose, eye_left, eye_right, chin = landmarks.points[[1, 33, 263, 152], :2]
    assert eye_left[0] < nose[0] < eye_right[0]
    assert max(eye_left[1], eye_right[1]) < nose[1] < chin[1]
    assert np.linalg.norm(nose - face.keypoints[2]) < 0.1 * face.width  # agrees with the detector


def test_landmarks_follow_a_rotated_face(vision: VisionService, astronaut: np.ndarray) -> None:
    (face,) = vision.detect(astronaut)
    upright = vision.landmarks(astronaut, face).points[:, :2]
    matrix = cv2.getRotationMatrix2D((256.0, 256.0), 30.0, 1.0)
    turned = cv2.warpAffine(astronaut, matrix, (512, 512))
    (turned_face,) = vision.detect(turned)

    assert abs(np.degrees(face_roi(turned_face).rotation) - np.degrees(face_roi(face).rotation) + 30) < 6
    landmarks = vision.landmarks(turned, turned_face)
    expected = np.c_[upright, np.ones(468)] @ matrix.T
    assert np.median(np.linalg.norm(landmarks.points[:, :2] - expected, axis=1)) < 0.03 * face.width


def test_no_face_in_the_crop_gives_a_low_presence(vision: VisionService, astronaut: np.ndarray) -> None:
    (face,) = vision.detect(astronaut)
    assert vision.landmarks(np.zeros_like(astronaut), face).presence < 0.1
