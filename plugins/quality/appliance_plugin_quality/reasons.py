"""Quality reasons of a media, with the numbers behind each.

- NO_FACE: no sampled frame has a face (`frames`: how many were sampled).
- MULTIPLE_FACES: a sampled frame has a second face (see the face track's rule): the frames.
- FACE_TOO_SMALL: the chosen face (the best shot's, else the track's best) is narrower than
  `min_face_px`.
- BLURRED: the chosen face's sharpness is below `min_sharpness`. Sharpness is the variance of the
  Laplacian of the face's luma after resizing the face box to `SHARPNESS_WIDTH` pixels wide, so
  that it does not grow with the face's size in pixels (the face track's own `sharpness` does).
  Without the frame's pixels, the track's number is used and reported as such.
- DARK / OVEREXPOSED: the chosen face's mean luma (0-255) is below `dark_below` / above
  `bright_above`.

Each reason is a dict: `{"reason": NAME, ...numbers, "threshold": ...}`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from appliance.sdk import FaceReason, FaceTrack

__all__ = ["SHARPNESS_WIDTH", "ReasonSettings", "face_sharpness", "quality_reasons"]

#: The face box is resized to this width before its sharpness is measured.
SHARPNESS_WIDTH = 112


@dataclass(frozen=True, slots=True)
class ReasonSettings:
    """When a reason is given (each a param of the analyzer, same name)."""

    min_face_px: float = 60.0
    min_sharpness: float = 40.0
    dark_below: float = 50.0
    bright_above: float = 210.0

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> ReasonSettings:
        return cls(**{name: float(params[name]) for name in cls.__dataclass_fields__ if params.get(name) is not None})


def face_sharpness(rgb: np.ndarray, box: tuple[float, float, float, float], width: int = SHARPNESS_WIDTH) -> float:
    """Variance of the Laplacian of the face box's luma, resized to `width` pixels wide."""
    height_px, width_px = rgb.shape[:2]
    x0, y0, x1, y1 = box
    left, top = max(0, math.floor(x0)), max(0, math.floor(y0))
    right, bottom = min(width_px, math.ceil(x1)), min(height_px, math.ceil(y1))
    if right - left < 3 or bottom - top < 3:
        return 0.0
    luma = cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    scale = width / luma.shape[1]
    size = (width, max(3, round(luma.shape[0] * scale)))
    luma = cv2.resize(luma, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
    return float(cv2.Laplacian(luma, cv2.CV_64F).var())


def quality_reasons(
    track: FaceTrack,
    position: int | None = None,
    rgb: np.ndarray | None = None,
    settings: ReasonSettings | None = None,
) -> list[dict[str, Any]]:
    """The quality reasons of a media from its face track.

    `position` is the frame (position in `track.frames`) whose face is judged, e.g. the best
    shot's; the track's best frame by default. `rgb` is that frame's pixels (for a size-independent
    sharpness); without it the track's sharpness is used.
    """
    settings = settings or ReasonSettings()
    reasons: list[dict[str, Any]] = []
    if position is None:
        position = track.best
    frame = None if position is None else track.frames[position]
    if frame is None or frame.quality is None or frame.face is None:
        return [{"reason": str(FaceReason.NO_FACE), "frames": len(track.frames), "frames_with_face": 0}]
    multiple = [f.index for f in track.frames if FaceReason.MULTIPLE_FACES in f.reasons]
    if multiple:
        reasons.append(
            {
                "reason": str(FaceReason.MULTIPLE_FACES),
                "frames": multiple,
                "max_faces": max(len(f.detections) for f in track.frames),
            }
        )
    quality = frame.quality
    if quality.width_px < settings.min_face_px:
        reasons.append(
            {
                "reason": str(FaceReason.FACE_TOO_SMALL),
                "face_width_px": round(quality.width_px, 1),
                "threshold": settings.min_face_px,
                "frame_index": frame.index,
            }
        )
    if rgb is not None:
        sharpness, source = face_sharpness(rgb, frame.face.box), f"laplacian_var_at_{SHARPNESS_WIDTH}px"
    else:
        sharpness, source = quality.sharpness, "laplacian_var_track"
    if sharpness < settings.min_sharpness:
        reasons.append(
            {
                "reason": "BLURRED",
                "sharpness": round(sharpness, 2),
                "measure": source,
                "threshold": settings.min_sharpness,
                "frame_index": frame.index,
            }
        )
    if quality.brightness < settings.dark_below:
        reasons.append(
            {
                "reason": "DARK",
                "brightness": round(quality.brightness, 1),
                "threshold": settings.dark_below,
                "frame_index": frame.index,
            }
        )
    elif quality.brightness > settings.bright_above:
        reasons.append(
            {
                "reason": "OVEREXPOSED",
                "brightness": round(quality.brightness, 1),
                "threshold": settings.bright_above,
                "frame_index": frame.index,
            }
        )
    return reasons
