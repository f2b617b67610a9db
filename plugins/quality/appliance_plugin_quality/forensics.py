"""Image forensics: what a recapture (a print, a screen) does to the pixels of one frame.

Each function takes an RGB uint8 frame and the face box (x0, y0, x1, y1, in the frame's pixels;
it may reach past the frame's edges for a face that fills it) and gives a `Cue`, or None when
the frame cannot tell (a face too small to measure, no surroundings to look at).

- `spectral`: periodic patterns of screens and prints (moire of a pixel grid against the camera's
  sensor, halftone dots) as isolated peaks high in the face's spectrum.
- `glare` and `flatness`: a glossy print or a screen reflects light as one mirror (saturated
  patches) or washes the face out (little local contrast).
- `blur`: a recapture passes through two optics and two samplings, and loses detail.
- `gamut` and `colour_cast`: a screen or a print reproduces fewer colours than a face has, and a
  screen's white point is colder than a room's light.
- `colour_texture`: the classic Replay-Attack countermeasure's material: local binary patterns of
  the face in the chroma channels of YCbCr and HSV, summarised by their entropy (a recaptured face's
  chroma is smoother).
- `bezel`: long straight edges around the face: the border of a phone, a tablet or a sheet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from .cues import Cue, CueName

__all__ = ["bezel", "blur", "colour_cues", "colour_texture", "glare_and_flatness", "image_cues", "spectral"]

#: The face's side (pixels) the colour, texture and blur cues are measured at.
MEASURE_SIDE = 112


def _face_square(rgb: np.ndarray, box: Sequence[float], scale: float) -> np.ndarray | None:
    """The central `scale` x the box (a square of its longer side), cut at the frame's edges; None
    when less than 16 pixels a side are left."""
    x0, y0, x1, y1 = (float(v) for v in box)
    side = max(x1 - x0, y1 - y0) * scale
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    height, width = rgb.shape[:2]
    left, top = max(round(cx - side / 2), 0), max(round(cy - side / 2), 0)
    right, bottom = min(round(cx + side / 2), width), min(round(cy + side / 2), height)
    if min(right - left, bottom - top) < 16:
        return None
    return np.ascontiguousarray(rgb[top:bottom, left:right])


def _face_gray(rgb: np.ndarray, box: Sequence[float], size: int, scale: float = 0.8) -> np.ndarray | None:
    """The central part of the face, gray float32, shrunk to at most `size` (never upsampled: it would
    invent an empty top of the spectrum); None when it is smaller than a quarter of `size`."""
    crop = _face_square(rgb, box, scale)
    if crop is None or min(crop.shape[:2]) < size // 4:
        return None
    gray = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    side = min(size, *gray.shape[:2])
    return cv2.resize(gray, (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)


def _face_at(rgb: np.ndarray, box: Sequence[float], scale: float = 0.9) -> np.ndarray | None:
    """The central `scale` x the face resized to MEASURE_SIDE (RGB uint8), so that one threshold
    serves a small webcam face and a large phone one."""
    crop = _face_square(rgb, box, scale)
    if crop is None:
        return None
    shrinking = max(crop.shape[:2]) > MEASURE_SIDE
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    return cv2.resize(crop, (MEASURE_SIDE, MEASURE_SIDE), interpolation=interpolation)


def spectral(rgb: np.ndarray, box: Sequence[float], size: int = 128) -> Cue | None:
    """Periodic high-frequency energy of the face. Value: `peak_ratio`, log10 of the strongest bin
    in rings from 0.35 to 1.0 of Nyquist over its ring's median (a camera image of skin 1.1-2.0, a
    moire grating or a halftone screen 3 and more); raw `hf_energy`, the share of the energy above
    half Nyquist."""
    gray = _face_gray(rgb, box, size)
    if gray is None:
        return None
    side = gray.shape[0]
    gray = gray - gray.mean()
    window = np.outer(np.hanning(side), np.hanning(side)).astype(np.float32)
    power = np.abs(np.fft.fftshift(np.fft.fft2(gray * window))) ** 2
    yy, xx = np.mgrid[:side, :side]
    radius = np.hypot(yy - side / 2, xx - side / 2) / (side / 2)  # 1 = Nyquist along an axis
    total = float(power[radius > 0.02].sum()) + 1e-9
    hf_energy = float(power[(radius > 0.5) & (radius <= 1.0)].sum()) / total
    peaks = []
    for low in np.arange(0.35, 1.0, 0.1):
        values = power[(radius > low) & (radius <= min(low + 0.1, 1.0))]
        if values.size:
            peaks.append(math.log10((float(values.max()) + 1e-9) / (float(np.median(values)) + 1e-9)))
    return Cue(CueName.SPECTRAL, float(max(peaks)) if peaks else 0.0, {"hf_energy": hf_energy})


def glare_and_flatness(rgb: np.ndarray, box: Sequence[float], size: int = 96) -> list[Cue]:
    """`glare`: the share of face pixels at or above 250; `flatness`: the median local standard
    deviation (7x7) of the gray face, 0-255 (under about 1.2: a face without local contrast)."""
    gray = _face_gray(rgb, box, size)
    if gray is None:
        return []
    mean = cv2.blur(gray, (7, 7))
    local = np.sqrt(np.maximum(cv2.blur(gray * gray, (7, 7)) - mean * mean, 0.0))
    return [
        Cue(CueName.GLARE, float((gray >= 250).mean())),
        Cue(CueName.FLATNESS, float(np.median(local))),
    ]


def blur(rgb: np.ndarray, box: Sequence[float]) -> Cue | None:
    """log10 of (1 + the variance of the Laplacian of the face's luma) at MEASURE_SIDE pixels."""
    face = _face_at(rgb, box)
    if face is None:
        return None
    luma = cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)
    variance = float(cv2.meanStdDev(cv2.Laplacian(luma, cv2.CV_64F))[1][0, 0] ** 2)
    return Cue(CueName.BLUR, math.log10(1.0 + variance), {"laplacian_var": variance})


def colour_cues(rgb: np.ndarray, box: Sequence[float]) -> list[Cue]:
    """`gamut`: colourfulness of the face, sqrt(sd_rg^2 + sd_yb^2) + 0.3 sqrt(mean_rg^2 + mean_yb^2)
    on rg = R - G, yb = (R + G) / 2 - B (Hasler and Suesstrunk 2003); `colour_cast`: the mean
    blue-difference chroma (Cb of YCbCr) minus its neutral 128."""
    face = _face_at(rgb, box)
    if face is None:
        return []
    r, g, b = (face[..., i].astype(np.float32) for i in range(3))
    rg, yb = r - g, (r + g) / 2 - b
    colourfulness = math.hypot(float(rg.std()), float(yb.std())) + 0.3 * math.hypot(float(rg.mean()), float(yb.mean()))
    cb = float(cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb)[..., 2].mean())
    return [Cue(CueName.GAMUT, colourfulness), Cue(CueName.COLOUR_CAST, cb - 128.0)]


def _lbp_codes(channel: np.ndarray) -> np.ndarray:
    """The 8-neighbour, radius-1 local binary pattern of every inner pixel (0-255)."""
    c = channel.astype(np.int16)
    centre = c[1:-1, 1:-1]
    codes = np.zeros(centre.shape, np.uint8)
    offsets = ((-1, -1), (-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1))
    height, width = c.shape
    for bit, (dy, dx) in enumerate(offsets):
        neighbour = c[1 + dy : height - 1 + dy, 1 + dx : width - 1 + dx]
        codes |= ((neighbour >= centre).astype(np.uint8) << bit).astype(np.uint8)
    return codes


def _entropy(codes: np.ndarray) -> float:
    counts = np.bincount(codes.ravel(), minlength=256).astype(np.float64)
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def colour_texture(rgb: np.ndarray, box: Sequence[float]) -> Cue | None:
    """Mean entropy (bits, 0-8) of the LBP codes of the face's Cr and Cb (YCbCr) and H and S (HSV)
    channels; raw: each channel's."""
    face = _face_at(rgb, box)
    if face is None:
        return None
    ycc = cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb)
    hsv = cv2.cvtColor(face, cv2.COLOR_RGB2HSV)
    channels = {"cr": ycc[..., 1], "cb": ycc[..., 2], "h": hsv[..., 0], "s": hsv[..., 1]}
    entropies = {name: _entropy(_lbp_codes(channel)) for name, channel in channels.items()}
    return Cue(CueName.COLOUR_TEXTURE, float(np.mean(list(entropies.values()))), entropies)


#: Surroundings looked at for a bezel: the box scaled by this, cut at the frame's edges.
BEZEL_CONTEXT = 3.0
#: Less surroundings than this (times the box, in width or height) and the cue is absent.
BEZEL_MIN_CONTEXT = 1.6


def bezel(rgb: np.ndarray, box: Sequence[float]) -> Cue | None:
    """Straight edges around the face, at least 0.6 of its side long, whose middle lies outside the
    face (its box enlarged by 1.2): their total length over the face's side (at most 8). Absent when
    the frame holds less than BEZEL_MIN_CONTEXT x the face box (a tight face crop)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = x1 - x0, y1 - y0
    side = max(w, h)
    if side < 24:
        return None
    height, width = rgb.shape[:2]
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    left, top = max(0, round(cx - w * BEZEL_CONTEXT / 2)), max(0, round(cy - h * BEZEL_CONTEXT / 2))
    right, bottom = min(width, round(cx + w * BEZEL_CONTEXT / 2)), min(height, round(cy + h * BEZEL_CONTEXT / 2))
    if right - left < BEZEL_MIN_CONTEXT * w or bottom - top < BEZEL_MIN_CONTEXT * h:
        return None
    region = cv2.cvtColor(np.ascontiguousarray(rgb[top:bottom, left:right]), cv2.COLOR_RGB2GRAY)
    scale = min(1.0, 160.0 / side)  # the face at about 160 px: one set of thresholds for every size
    if scale < 1.0:
        region = cv2.resize(region, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    median = float(np.median(region))
    edges = cv2.Canny(region, int(max(10, 0.66 * median)), int(min(255, max(40, 1.33 * median))))
    found = cv2.HoughLinesP(
        edges, 1, np.pi / 180, threshold=40, minLineLength=int(0.6 * side * scale), maxLineGap=int(0.05 * side * scale)
    )
    total = 0.0
    lines = 0
    for segment in [] if found is None else found[:, 0]:
        ax, ay, bx, by = (float(v) / scale for v in segment)
        mx, my = (ax + bx) / 2 + left, (ay + by) / 2 + top
        if abs(mx - cx) < 0.6 * w and abs(my - cy) < 0.6 * h:
            continue  # on the face (a nose ridge, a collar under the chin is outside)
        total += math.hypot(bx - ax, by - ay)
        lines += 1
    return Cue(CueName.BEZEL, min(total / side, 8.0), {"lines": float(lines)})


def image_cues(rgb: np.ndarray, box: Sequence[float]) -> list[Cue]:
    """Every cue one frame gives, in `CueName` order."""
    found: list[Cue | None] = [spectral(rgb, box), *glare_and_flatness(rgb, box), blur(rgb, box)]
    found += [*colour_cues(rgb, box), colour_texture(rgb, box), bezel(rgb, box)]
    return [cue for cue in found if cue is not None]
