"""Eyelid contours from the iris landmark model: open eyes, painted-shut eyes, a rotated face."""

from __future__ import annotations

import cv2
import numpy as np

from appliance.sdk.testing import paint_eyes_shut
from appliance.vision import VisionService
from appliance.vision.eyes import EyeLandmarks, eye_landmarks, eye_openness


def _eyes(vision: VisionService, rgb: np.ndarray) -> EyeLandmarks:
    (face,) = vision.detect(rgb)
    return eye_landmarks(vision.runtime.get("iris"), rgb, vision.landmarks(rgb, face))


def test_the_astronauts_open_eyes(vision: VisionService, astronaut: np.ndarray) -> None:
    (face,) = vision.detect(astronaut)
    mesh = vision.landmarks(astronaut, face).points[:, :2]
    eyes = _eyes(vision, astronaut)

    assert eyes.lids.shape == (2, 16, 2)
    assert all(0.15 < eye_openness(lids) < 0.6 for lids in eyes.lids)
    # each contour runs corner to corner (FaceMesh 33-133 on the image's left, 263-362 on the right)
    for lids, (outer, inner) in zip(eyes.lids, ((33, 133), (263, 362)), strict=True):
        assert np.linalg.norm(lids[0] - mesh[outer]) < 0.06 * face.width
        assert np.linalg.norm(lids[8] - mesh[inner]) < 0.06 * face.width
        upper, lower = lids[9:16, 1].mean(), lids[1:8, 1].mean()
        assert upper < lower  # image y grows downwards


def test_painted_shut_eyes_are_closed(vision: VisionService, astronaut: np.ndarray) -> None:
    eyes = _eyes(vision, astronaut)
    shut = paint_eyes_shut(astronaut, eyes)
    closed = _eyes(vision, shut)

    for open_lids, closed_lids in zip(eyes.lids, closed.lids, strict=True):
        assert eye_openness(closed_lids) < 0.55 * eye_openness(open_lids)  # 0.38 and 0.45 measured


def test_the_lids_follow_a_rotated_face(vision: VisionService, astronaut: np.ndarray) -> None:
    upright = _eyes(vision, astronaut)
    matrix = cv2.getRotationMatrix2D((256.0, 256.0), 30.0, 1.0)
    turned = _eyes(vision, cv2.warpAffine(astronaut, matrix, (512, 512)))

    expected = np.c_[upright.lids.reshape(-1, 2), np.ones(32)] @ matrix.T
    assert np.median(np.linalg.norm(turned.lids.reshape(-1, 2) - expected, axis=1)) < 2.0
    for a, b in zip(upright.lids, turned.lids, strict=True):
        assert abs(eye_openness(a) - eye_openness(b)) < 0.25 * eye_openness(a)
