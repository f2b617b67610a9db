"""Eyelids: MediaPipe's iris landmark model on crops around each eye, for how open the eyes are.

FaceMesh alone places its eyelid points by the shape of the face rather than by the lid: on
frames where the eyes are visibly closed its eye aspect ratio stays within 5-10 % of its open
value. The iris model, run on a crop of one eye, follows the lids. The crop is MediaPipe's: a
square of `roi.scale` (2.3) x the distance between the eye's FaceMesh corners, centred between
them and rotated so that they are level; the right eye's crop is mirrored so that the model
always sees a left eye. Its first 16 contour points are the eyelids: 0-8 the lower lid from
corner to corner, 9-15 the upper lid between them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from appliance.vision.landmarks import FaceLandmarks, Roi, crop_matrix
from appliance.vision.params import EyeModelParams, params_of

__all__ = ["DEFAULT_EYE_MODEL", "EyeLandmarks", "eye_landmarks", "eye_openness"]

#: The eye model used when none is named.
DEFAULT_EYE_MODEL = "iris"

#: FaceMesh indices of the corners of the eye on the image's left, then of the other eye.
_CORNERS = {"left": (33, 133), "right": (362, 263)}
_LID_POINTS = 16
#: Lower-lid point facing each upper-lid point 9..15 (the lids' points are spread alike).
_UPPER = np.arange(9, 16)
_LOWER = np.arange(1, 8)


@dataclass(frozen=True, slots=True, eq=False)
class EyeLandmarks:
    """The eyelid contours of both eyes of one face, in the frame's pixels."""

    #: (2, 16, 2) float32: for the eye on the image's left, then the other, points 0-8 of the
    #: lower lid (corner to corner) and 9-15 of the upper lid.
    lids: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"lids": np.asarray(self.lids, dtype=float).tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EyeLandmarks:
        return cls(np.asarray(data["lids"], dtype=np.float32))


def eye_openness(lids: np.ndarray) -> float:
    """How open one eye is: the mean gap between facing upper- and lower-lid points over the
    distance between the corners (about 0.3 open, under 0.1 closed)."""
    lids = np.asarray(lids, dtype=np.float64)
    width = float(np.linalg.norm(lids[8] - lids[0]))
    if width <= 1e-6:
        return 0.0
    return float(np.linalg.norm(lids[_UPPER] - lids[_LOWER], axis=1).mean() / width)


def _eye_roi(points: np.ndarray, corners: tuple[int, int], scale: float) -> Roi:
    a, b = points[corners[0], :2], points[corners[1], :2]
    centre = (a + b) / 2.0
    rotation = math.atan2(float(b[1] - a[1]), float(b[0] - a[0]))
    return Roi(float(centre[0]), float(centre[1]), float(np.linalg.norm(b - a)) * scale, rotation)


def eye_landmarks(model: Any, rgb: np.ndarray, face: FaceLandmarks) -> EyeLandmarks:
    """The eyelid contours of the face whose FaceMesh points are `face`, in the RGB uint8 `rgb`.

    `model` is the loaded iris landmark LiteRT model; its card's params may set `input.size` and
    `roi.scale` (`EyeModelParams`).
    """
    params = params_of(model, EyeModelParams)
    size, scale = params.input.size[0], params.roi.scale
    # the model was trained on the eye on the image's left: the other one is mirrored
    mirror = np.array([[-1.0, 0.0, size], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    crops, inverses = [], []
    for name in ("left", "right"):
        matrix = crop_matrix(_eye_roi(face.points, _CORNERS[name], scale), size)
        if name == "right":
            matrix = (mirror @ np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
        crops.append(cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
        inverses.append(cv2.invertAffineTransform(matrix))
    lids = []
    for crop, inverse in zip(crops, inverses, strict=True):
        tensor = (crop.astype(np.float32) * (1.0 / 255.0))[np.newaxis]
        outputs = [np.asarray(o).reshape(-1) for o in model.invoke([tensor])]
        contour = max(outputs, key=lambda o: o.size)[: _LID_POINTS * 3].reshape(_LID_POINTS, 3)
        lids.append(contour[:, :2].astype(np.float64) @ inverse[:, :2].T + inverse[:, 2])
    return EyeLandmarks(np.asarray(lids, dtype=np.float32))
