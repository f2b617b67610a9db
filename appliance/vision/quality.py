"""Quality numbers of a face in a frame, and the reasons a frame's faces are unusable.

Every number is cheap and computed on the frame as decoded:
- size: the box's width and height in pixels, and its area as a fraction of the frame's;
- sharpness: variance of the Laplacian of the luma (BT.601) inside the box: higher is sharper; it
  grows with contrast and with the face's size in pixels, so compare it between frames of one
  media rather than against a fixed bar;
- brightness: mean luma inside the box, 0-255;
- score: the detector's confidence;
- yaw, pitch, roll in degrees, rough (about +-10 degrees), from the detector's 6 keypoints: roll is
  the eye line's angle (positive: turned clockwise on screen), yaw the nose's offset between the
  ear tragions (positive: the face turned towards the image's right), pitch the nose's height
  between the eye line and the mouth (positive: looking down).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

import cv2
import numpy as np

from appliance.vision.detector import FaceDetection

__all__ = [
    "FaceQuality",
    "FaceReason",
    "QualitySettings",
    "face_quality",
    "frame_reasons",
    "primary_index",
]

#: Nose height between the eye line (0) and the mouth (1) of a face seen straight on.
_FRONTAL_NOSE_HEIGHT = 0.55


class FaceReason(StrEnum):
    """Why the faces of a frame (or of a whole media) are not a usable single face."""

    NO_FACE = "NO_FACE"
    MULTIPLE_FACES = "MULTIPLE_FACES"
    FACE_TOO_SMALL = "FACE_TOO_SMALL"


@dataclass(frozen=True, slots=True)
class QualitySettings:
    """When a frame's faces give a reason."""

    #: FACE_TOO_SMALL below this face (box) width, in pixels.
    min_face_px: float = 60.0
    #: A second face counts for MULTIPLE_FACES from this detection score...
    multiple_min_score: float = 0.5
    #: ... and this width relative to the largest face's.
    multiple_min_ratio: float = 0.5


@dataclass(frozen=True, slots=True)
class FaceQuality:
    """Quality numbers of one face (see the module's docstring for each)."""

    width_px: float
    height_px: float
    area_fraction: float
    sharpness: float
    brightness: float
    score: float
    yaw: float
    pitch: float
    roll: float

    def to_dict(self) -> dict[str, float]:
        return {key: float(value) for key, value in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceQuality:
        return cls(**{name: float(data[name]) for name in cls.__dataclass_fields__})


def primary_index(detections: Sequence[FaceDetection]) -> int | None:
    """Position of the largest face (box area), or None when there is none."""
    if not detections:
        return None
    return max(range(len(detections)), key=lambda i: detections[i].area)


def face_quality(rgb: np.ndarray, detection: FaceDetection) -> FaceQuality:
    """The quality numbers of `detection` in the RGB uint8 frame it was found in."""
    height, width = rgb.shape[:2]
    x0, y0, x1, y1 = detection.box
    left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
    right, bottom = min(width, math.ceil(x1)), min(height, math.ceil(y1))
    sharpness = brightness = 0.0
    if right - left >= 3 and bottom - top >= 3:
        luma = cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
        # OpenCV's one-pass mean and deviation: numpy's var() and mean() took 3x as long on a 720p face
        sharpness = float(cv2.meanStdDev(cv2.Laplacian(luma, cv2.CV_64F))[1][0, 0] ** 2)
        brightness = float(cv2.mean(luma)[0])
    yaw, pitch, roll = keypoint_pose(detection.keypoints)
    return FaceQuality(
        width_px=float(detection.width),
        height_px=float(detection.height),
        area_fraction=float(detection.area / (width * height)) if width and height else 0.0,
        sharpness=sharpness,
        brightness=brightness,
        score=float(detection.score),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
    )


def keypoint_pose(keypoints: np.ndarray) -> tuple[float, float, float]:
    """Rough (yaw, pitch, roll) in degrees from BlazeFace's 6 keypoints (signs as in the module doc)."""
    points = np.asarray(keypoints, dtype=np.float64)
    eye_a, eye_b, nose, mouth, ear_a, ear_b = points[:6]
    roll = math.atan2(eye_b[1] - eye_a[1], eye_b[0] - eye_a[0])
    # level the face: rotate by -roll around the eyes' midpoint
    cos, sin = math.cos(-roll), math.sin(-roll)
    centre = (eye_a + eye_b) / 2
    rotation = np.array([[cos, -sin], [sin, cos]])
    eye_a, eye_b, nose, mouth, ear_a, ear_b = (
        (p - centre) @ rotation.T for p in (eye_a, eye_b, nose, mouth, ear_a, ear_b)
    )
    half_ears = (ear_b[0] - ear_a[0]) / 2
    yaw = 0.0
    if half_ears > 1e-6:
        offset = (nose[0] - (ear_a[0] + ear_b[0]) / 2) / half_ears
        yaw = math.degrees(math.asin(float(np.clip(offset, -1.0, 1.0))))
    pitch = 0.0
    if mouth[1] > 1e-6:
        height = nose[1] / mouth[1]
        pitch = math.degrees(math.asin(float(np.clip((height - _FRONTAL_NOSE_HEIGHT) * 2.0, -1.0, 1.0))))
    return yaw, pitch, math.degrees(roll)


def frame_reasons(
    detections: Sequence[FaceDetection], settings: QualitySettings | None = None
) -> tuple[FaceReason, ...]:
    """Why a frame's faces are not one usable face: NO_FACE; MULTIPLE_FACES when a face besides the
    largest has at least `multiple_min_score` and `multiple_min_ratio` of its width;
    FACE_TOO_SMALL when the largest is narrower than `min_face_px`."""
    settings = settings or QualitySettings()
    primary = primary_index(detections)
    if primary is None:
        return (FaceReason.NO_FACE,)
    main = detections[primary]
    reasons: list[FaceReason] = []
    if any(
        i != primary and d.score >= settings.multiple_min_score and d.width >= settings.multiple_min_ratio * main.width
        for i, d in enumerate(detections)
    ):
        reasons.append(FaceReason.MULTIPLE_FACES)
    if main.width < settings.min_face_px:
        reasons.append(FaceReason.FACE_TOO_SMALL)
    return tuple(reasons)
