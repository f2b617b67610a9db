"""Model-free attack signals: they need no PAD model, only the frames and the face track.

Each signal gives `score` in [0, 1] (1 = attack-like, 0.5 = no opinion) and its raw numbers, or is
absent when the media cannot tell (a photo has no motion). docs/liveness.md explains each one.

- `spectral`: screens and prints add periodic patterns (moire, pixel grid, halftone dots): isolated
  peaks in the high-frequency part of the face's spectrum, far above the smooth fall-off of a camera
  image of skin.
- `specular`: a glossy print or a screen reflects light as one flat mirror: large saturated patches, or
  a face with almost no local contrast (washed out by glare or the screen's backlight).
- `planarity` (videos): a held photo or a screen moves as one plane, so one homography maps the face's
  landmarks from frame to frame; a real face turning shows parallax (nose against cheeks) that a plane
  cannot follow.
- `micro_motion` (videos): eyes and mouth of a living face move relative to the face (blinks, speech);
  those of a still photo do not.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

__all__ = ["Signal", "micro_motion", "planarity", "spectral", "specular", "static_signals"]


@dataclass(slots=True)
class Signal:
    name: str
    #: 1 = attack-like, 0 = live-like, 0.5 = no opinion.
    score: float
    raw: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"score": round(self.score, 4), **{k: round(float(v), 5) for k, v in self.raw.items()}}


def _logistic(x: float, centre: float, width: float) -> float:
    """0.5 at `centre`, rising towards 1 as x grows (falls when width < 0); 0 or 1 far from it
    (a stage clip's shot cuts make micro-motion thousands of times the live range)."""
    return 1.0 / (1.0 + math.exp(min(700.0, max(-700.0, -(x - centre) / width))))


def _face_gray(rgb: np.ndarray, box: Sequence[float], size: int, scale: float = 0.8) -> np.ndarray | None:
    """The central part of the face (`scale` x the box, square), gray float32, resized to `size` with
    INTER_AREA when shrinking; None when the face is smaller than a quarter of `size`."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    h, w = rgb.shape[:2]
    left, top = max(round(cx - side / 2), 0), max(round(cy - side / 2), 0)
    right, bottom = min(round(cx + side / 2), w), min(round(cy + side / 2), h)
    if min(right - left, bottom - top) < size // 4:
        return None
    crop = cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    side_px = min(crop.shape[:2])
    if side_px < size:  # never upsample: it would invent an empty top of the spectrum
        size = side_px
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_AREA
    return cv2.resize(crop, (size, size), interpolation=interpolation).astype(np.float32)


def spectral(rgb: np.ndarray, box: Sequence[float], size: int = 128) -> Signal | None:
    """Periodic high-frequency energy of the face: `peak_ratio` (the strongest high-frequency bin
    against the median bin of its ring, in log10) and `hf_energy` (share of the energy above half
    Nyquist)."""
    gray = _face_gray(rgb, box, size)
    if gray is None:
        return None
    size = gray.shape[0]
    gray = gray - gray.mean()
    window = np.outer(np.hanning(size), np.hanning(size)).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray * window))) ** 2
    yy, xx = np.mgrid[:size, :size]
    radius = np.hypot(yy - size / 2, xx - size / 2) / (size / 2)  # 1 = Nyquist along an axis
    total = float(power[radius > 0.02].sum()) + 1e-9
    hf_energy = float(power[(radius > 0.5) & (radius <= 1.0)].sum()) / total
    band = (radius > 0.35) & (radius <= 1.0)
    peaks = []
    for lo in np.arange(0.35, 1.0, 0.1):
        ring = band & (radius > lo) & (radius <= lo + 0.1)
        values = power[ring]
        if values.size:
            peaks.append(math.log10((float(values.max()) + 1e-9) / (float(np.median(values)) + 1e-9)))
    peak_ratio = float(max(peaks)) if peaks else 0.0
    # A camera image of skin: peaks about 1.3 decades over the ring's median; moire or halftone: 2+.
    score = _logistic(peak_ratio, 1.9, 0.15)
    return Signal("spectral", score, {"peak_ratio": peak_ratio, "hf_energy": hf_energy})


def specular(rgb: np.ndarray, box: Sequence[float], size: int = 96) -> Signal | None:
    """Mirror-like glare and flatness of the face: `saturated` (share of pixels at or above 250) and
    `local_contrast` (median local standard deviation of the gray face, 0..255)."""
    gray = _face_gray(rgb, box, size)
    if gray is None:
        return None
    saturated = float((gray >= 250).mean())
    mean = cv2.blur(gray, (7, 7))
    sq = cv2.blur(gray * gray, (7, 7))
    local = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    local_contrast = float(np.median(local))
    glare = _logistic(saturated, 0.08, 0.02)
    flat = _logistic(local_contrast, 1.2, -0.3)
    return Signal("specular", max(glare, flat), {"saturated": saturated, "local_contrast": local_contrast})


def static_signals(rgb: np.ndarray, box: Sequence[float]) -> list[Signal]:
    """The signals a single image gives."""
    return [s for s in (spectral(rgb, box), specular(rgb, box)) if s is not None]


def _points(landmarks: Any) -> np.ndarray:
    return np.asarray(landmarks.points, dtype=np.float64)[:, :2]


#: FaceMesh indices: eye corners and lids, mouth corners and lips.
_RIGHT_EYE = (33, 133, 159, 145)
_LEFT_EYE = (362, 263, 386, 374)
_MOUTH = (61, 291, 13, 14)
#: Points that move with the skull: forehead, temples, nose bridge and tip, chin, cheekbones.
_RIGID = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 152, 234, 454, 127, 356, 93, 323, 116, 345)


#: Movement that counts as "alive" (score 0.5 where the largest ratio is 1): eye opening sd, mouth
#: opening sd, RMS of eye and mouth points over the face width. Below them is FaceMesh's jitter.
EYES_SD = 0.03
MOUTH_SD = 0.05
LOCAL_RMS = 0.02


def _opening(points: np.ndarray, idx: tuple[int, int, int, int]) -> float:
    a, b, top, bottom = (points[i] for i in idx)
    return float(np.linalg.norm(top - bottom) / max(float(np.linalg.norm(a - b)), 1e-6))


def planarity(landmarks: Sequence[Any], min_motion: float = 0.08) -> Signal | None:
    """How well one plane explains the face's landmark motion across frames.

    For each pair of consecutive frames: the homography that maps the 468 landmarks best (least
    squares), its RMS residual, and the motion (RMS displacement), both over the face width. Pairs
    that move less than `min_motion` (8 % of the face width) say nothing: a real head that barely
    turns fits a plane too. With no pair left, None.
    `residual`: median residual of the pairs that moved; `motion`: their median motion.
    """
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
    # A plane leaves FaceMesh's own jitter and a screen's small tilt, under about 1 % of the face
    # width; a real head turning leaves 2-3 %. Judged on a log scale, 0.5 at 1.2 %.
    score = _logistic(math.log10(max(residual, 1e-6)), math.log10(0.012), -0.15)
    return Signal(
        "planarity", score, {"residual": residual, "motion": float(np.median(motions)), "pairs": len(residuals)}
    )


def micro_motion(landmarks: Sequence[Any]) -> Signal | None:
    """Eye and mouth movement relative to the face across frames (None with fewer than 3 frames).

    Each frame's landmarks are first mapped onto the first frame's by the homography of the rigid
    points (forehead, nose, chin, cheekbones), which removes head and plane motion alike. Then
    `eyes`, `mouth`: standard deviation of the eye and mouth openings (height over width); `local`:
    RMS movement of the eye and mouth points about their mean, over the face width.
    """
    if len(landmarks) < 3:
        return None
    pts = [_points(lm) for lm in landmarks]
    ref = pts[0]
    rigid = list(_RIGID)
    aligned = []
    for p in pts:
        h, _ = cv2.findHomography(p[rigid].astype(np.float32), ref[rigid].astype(np.float32), 0)
        if h is not None:
            aligned.append(cv2.perspectiveTransform(p.reshape(-1, 1, 2).astype(np.float32), h).reshape(-1, 2))
    if len(aligned) < 3:
        return None
    width = float(np.ptp(ref[:, 0])) or 1.0
    eyes = [(_opening(p, _RIGHT_EYE) + _opening(p, _LEFT_EYE)) / 2 for p in aligned]
    mouth = [_opening(p, _MOUTH) for p in aligned]
    moving = np.stack([p[list(_RIGHT_EYE + _LEFT_EYE + _MOUTH)] for p in aligned])
    local = float(np.sqrt(np.mean(np.sum((moving - moving.mean(axis=0)) ** 2, axis=2)))) / width
    eyes_sd, mouth_sd = float(np.std(eyes)), float(np.std(mouth))
    liveliness = max(eyes_sd / EYES_SD, mouth_sd / MOUTH_SD, local / LOCAL_RMS)
    score = _logistic(liveliness, 1.0, -0.2)
    return Signal("micro_motion", score, {"eyes": eyes_sd, "mouth": mouth_sd, "local": local})
