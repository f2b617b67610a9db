"""FaceMesh: 468 face landmarks from a detection, in the frame's pixels.

The crop is MediaPipe's: a square of 1.5 x the longer side of the detection box, centred on the
box and rotated so that the eye line is level, resampled to the model's 192 x 192 input as RGB in
[0, 1]. The model's points (crop pixels) are mapped back through the inverse of that transform;
its face flag (a logit) becomes `presence`, the probability that the crop holds a face.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from appliance.ops import metrics
from appliance.vision.detector import FaceDetection
from appliance.vision.params import FaceLandmarksParams, params_of

__all__ = ["DEFAULT_LANDMARKER", "FaceLandmarks", "Roi", "crop_matrix", "face_landmarks", "face_roi"]

#: The landmark model used when none is named.
DEFAULT_LANDMARKER = "facemesh"

_NUM_LANDMARKS = 468


@dataclass(frozen=True, slots=True, eq=False)
class FaceLandmarks:
    """468 FaceMesh points of one face."""

    #: (468, 3) float32: x, y in the frame's pixels; z (depth, smaller is nearer) in the same scale.
    points: np.ndarray = field(repr=False)
    #: Probability in [0, 1] that the crop held a face (FaceMesh's face flag).
    presence: float

    def to_dict(self) -> dict[str, Any]:
        return {"points": np.asarray(self.points, dtype=float).tolist(), "presence": float(self.presence)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceLandmarks:
        return cls(np.asarray(data["points"], dtype=np.float32), float(data["presence"]))


@dataclass(frozen=True, slots=True)
class Roi:
    """A rotated square in frame pixels: centre, side, rotation (radians, clockwise on screen)."""

    cx: float
    cy: float
    side: float
    rotation: float


def face_roi(detection: FaceDetection, scale: float = FaceLandmarksParams().roi.scale) -> Roi:
    """MediaPipe's landmark ROI for a detection: `scale` x the box's longer side, levelled on the
    eye keypoints (keypoint 0 is the eye on the image's left)."""
    (x0, y0), (x1, y1) = detection.keypoints[0], detection.keypoints[1]
    rotation = math.atan2(float(y1 - y0), float(x1 - x0))
    cx, cy = detection.center
    return Roi(cx, cy, max(detection.width, detection.height) * scale, rotation)


def crop_matrix(roi: Roi, size: int) -> np.ndarray:
    """2x3 affine matrix from frame pixels to crop pixels (the ROI, levelled, filling size x size)."""
    k = size / roi.side
    cos, sin = math.cos(roi.rotation) * k, math.sin(roi.rotation) * k
    # crop = k * R(-rotation) (p - c) + size / 2
    return np.array(
        [
            [cos, sin, size / 2 - cos * roi.cx - sin * roi.cy],
            [-sin, cos, size / 2 + sin * roi.cx - cos * roi.cy],
        ],
        dtype=np.float64,
    )


@metrics.timed("landmarks")
def face_landmarks(model: Any, rgb: np.ndarray, detection: FaceDetection) -> FaceLandmarks:
    """FaceMesh landmarks of the face `detection` found in the RGB uint8 frame `rgb`.

    `model` is the loaded FaceMesh LiteRT model; its card's params may set `input.size` and
    `roi.scale` (`FaceLandmarksParams`).
    """
    params = params_of(model, FaceLandmarksParams)
    size = params.input.size[0]
    roi = face_roi(detection, params.roi.scale)
    matrix = crop_matrix(roi, size)
    crop = cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    tensor = (crop.astype(np.float32) * (1.0 / 255.0))[np.newaxis]
    outputs = [np.asarray(o).reshape(-1) for o in model.invoke([tensor])]
    raw = next(o for o in outputs if o.size >= _NUM_LANDMARKS * 3)
    flag = next(o for o in outputs if o.size == 1)
    points = raw[: _NUM_LANDMARKS * 3].reshape(_NUM_LANDMARKS, 3).astype(np.float64)
    inverse = cv2.invertAffineTransform(matrix)
    xy = points[:, :2] @ inverse[:, :2].T + inverse[:, 2]
    z = points[:, 2:] * (roi.side / size)
    presence = 1.0 / (1.0 + math.exp(-float(np.clip(flag[0], -80.0, 80.0))))
    return FaceLandmarks(np.concatenate([xy, z], axis=1).astype(np.float32), presence)
