"""Video cues: how the face moves across the sampled frames of a video or shot set.

- `planarity`: a held photo or a screen moves as one plane, so one homography maps the face's
  468 FaceMesh landmarks from frame to frame; a real face turning shows parallax (the nose against
  the cheeks) that a plane cannot follow.
- `micro_motion`: eyes and mouth of a living face move relative to it (blinks, speech); those of
  a still photo do not.

Each gives a `Cue` or None when the media cannot tell (too few frames, a face that did not move).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from .cues import Cue, CueName

__all__ = ["EYES_SD", "LOCAL_RMS", "MOUTH_SD", "micro_motion", "planarity"]


def _points(landmarks: Any) -> np.ndarray:
    return np.asarray(landmarks.points, dtype=np.float64)[:, :2]


#: FaceMesh indices: eye corners and lids, mouth corners and lips.
RIGHT_EYE = (33, 133, 159, 145)
LEFT_EYE = (362, 263, 386, 374)
MOUTH = (61, 291, 13, 14)
#: Points that move with the skull: forehead, temples, nose bridge and tip, chin, cheekbones.
RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 152, 234, 454, 127, 356, 93, 323, 116, 345)

#: Movement that counts as "alive" (micro_motion's value is 1 where the largest ratio reaches it):
#: eye opening sd, mouth opening sd, RMS of eye and mouth points over the face width. Below them is
#: FaceMesh's own jitter.
EYES_SD = 0.03
MOUTH_SD = 0.05
LOCAL_RMS = 0.02


def _opening(points: np.ndarray, idx: tuple[int, int, int, int]) -> float:
    a, b, top, bottom = (points[i] for i in idx)
    return float(np.linalg.norm(top - bottom) / max(float(np.linalg.norm(a - b)), 1e-6))


def planarity(landmarks: Sequence[Any], min_motion: float = 0.08) -> Cue | None:
    """log10 of the median residual (over the face width) of the best homography between the
    landmarks of consecutive frames that moved at least `min_motion` of the face width (a real head
    that barely turns fits a plane too). A plane leaves FaceMesh's jitter and a screen's tilt, under
    about 1 % of the face width (-2); a real head turning 2-4 % (-1.7 to -1.4). Raw: `residual`,
    `motion` (median RMS displacement over the face width), `pairs`."""
    residuals, motions = [], []
    for first, second in itertools.pairwise(landmarks):
        a, b = _points(first), _points(second)
        width = float(np.ptp(a[:, 0])) or 1.0
        motion = float(np.sqrt(np.mean(np.sum((b - a) ** 2, axis=1)))) / width
        if motion < min_motion:
            continue
        h, _ = cv2.findHomography(a.astype(np.float32), b.astype(np.float32), 0)
        if h is None:
            continue
        mapped = cv2.perspectiveTransform(a.reshape(-1, 1, 2).astype(np.float32), h).reshape(-1, 2)
        residuals.append(float(np.sqrt(np.mean(np.sum((mapped - b) ** 2, axis=1)))) / width)
        motions.append(motion)
    if not residuals:
        return None
    residual = float(np.median(residuals))
    raw = {"residual": residual, "motion": float(np.median(motions)), "pairs": float(len(residuals))}
    return Cue(CueName.PLANARITY, math.log10(max(residual, 1e-6)), raw)


def micro_motion(landmarks: Sequence[Any]) -> Cue | None:
    """The largest of eyes / EYES_SD, mouth / MOUTH_SD, local / LOCAL_RMS (None with fewer than 3
    frames). Each frame's landmarks are first mapped onto the first frame's by the homography of
    the rigid points, which removes head and plane motion alike; then `eyes`, `mouth`: standard
    deviation of the eye and mouth openings (height over width); `local`: RMS movement of the eye
    and mouth points about their mean, over the face width."""
    if len(landmarks) < 3:
        return None
    pts = [_points(lm) for lm in landmarks]
    ref = pts[0]
    rigid = list(RIGID)
    aligned = []
    for p in pts:
        h, _ = cv2.findHomography(p[rigid].astype(np.float32), ref[rigid].astype(np.float32), 0)
        if h is not None:
            aligned.append(cv2.perspectiveTransform(p.reshape(-1, 1, 2).astype(np.float32), h).reshape(-1, 2))
    if len(aligned) < 3:
        return None
    width = float(np.ptp(ref[:, 0])) or 1.0
    eyes = [(_opening(p, RIGHT_EYE) + _opening(p, LEFT_EYE)) / 2 for p in aligned]
    mouth = [_opening(p, MOUTH) for p in aligned]
    moving = np.stack([p[list(RIGHT_EYE + LEFT_EYE + MOUTH)] for p in aligned])
    local = float(np.sqrt(np.mean(np.sum((moving - moving.mean(axis=0)) ** 2, axis=2)))) / width
    eyes_sd, mouth_sd = float(np.std(eyes)), float(np.std(mouth))
    liveliness = max(eyes_sd / EYES_SD, mouth_sd / MOUTH_SD, local / LOCAL_RMS)
    return Cue(CueName.MICRO_MOTION, min(liveliness, 1e3), {"eyes": eyes_sd, "mouth": mouth_sd, "local": local})
