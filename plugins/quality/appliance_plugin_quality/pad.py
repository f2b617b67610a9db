"""The passive attack detector slot: any `presentation_attack` model of the store, run on sampled faces.

A PAD model's card says how to prepare its input (docs/liveness.md, "The PAD model slot"):

| param | default | meaning |
|---|---|---|
| `crop_scale` | 1.5 | side of the square crop, times the longer side of the (mapped) box, centred |
| `box` | `{shift_x: 0, shift_y: 0, scale: 1}` | maps our face box to the model's training box (below) |
| `input_size` | [128, 128] | width, height of the model input |
| `layout` | `NCHW` | or `NHWC` |
| `color` | `RGB` | or `BGR` |
| `scale`, `mean`, `std` | 1/255, 0, 1 | input = (pixel x scale - mean) / std, per channel |
| `border` | `reflect_101` | filling past the frame: `reflect_101`, `replicate` or `constant` (black) |
| `live_index` | 0 | which output column means "live" |
| `output` | `logits` | `logits` (softmax taken here) or `probabilities` |

`box` moves the centre of the appliance's face box by `shift_x` x its width and `shift_y` x its
height and multiplies its longer side by `scale`, to match the boxes the model was trained on.

The face boxes are the face track's (the plugin runs no detector of its own). Single-image scores of
such models swing with the exact box (../shared/measurements.md, section D), so every face is scored
on a few crops jittered around the box as well as on several frames, and the scores are fused by the
median of the live-vs-attack log-odds: one odd crop or frame cannot flip the decision.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from appliance.sdk import ModelHandle

__all__ = ["JITTERS", "DetectorResult", "PadResult", "crop_face", "live_log_odds", "p_live_of", "prepare", "run_pad"]

TASK = "presentation_attack"

#: Crops per face: (shift x, shift y as fractions of the crop side, scale of the crop side). The first
#: is the card's own crop; the others move it by about the box noise of a detector between frames.
JITTERS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 1.0),
    (0.04, 0.0, 1.0),
    (-0.04, 0.0, 1.0),
    (0.0, 0.04, 1.0),
    (0.0, -0.04, 1.0),
    (0.0, 0.0, 0.93),
    (0.0, 0.0, 1.07),
)

_BORDERS = {"reflect_101": cv2.BORDER_REFLECT_101, "replicate": cv2.BORDER_REPLICATE, "constant": cv2.BORDER_CONSTANT}
_LOGIT_LIMIT = 12.0


@dataclass(slots=True)
class DetectorResult:
    """One PAD model's verdict on one media."""

    name: str
    version: str
    sha256: str
    #: Frames scored and crops scored (frames x jitters).
    frames: int = 0
    crops: int = 0
    #: Fused probability that the face is live, None when no face could be scored.
    p_live: float | None = None
    #: Per-frame p_live (median over that frame's crops), in frame order.
    per_frame: list[float] = field(default_factory=list)
    #: Spread of the crop scores (interquartile range of p_live): large means an unsure model.
    spread: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "sha256": self.sha256,
            "frames": self.frames,
            "crops": self.crops,
            "p_live": None if self.p_live is None else round(self.p_live, 4),
            "per_frame": [round(p, 4) for p in self.per_frame],
            "spread": None if self.spread is None else round(self.spread, 4),
            "error": self.error,
        }


@dataclass(slots=True)
class PadResult:
    """Every PAD model's result; `p_live` is their mean, None when no model scored the face."""

    detectors: list[DetectorResult]
    p_live: float | None

    @property
    def ran(self) -> list[str]:
        return [f"{d.name}@{d.version}" for d in self.detectors if d.p_live is not None]


def _param(params: Mapping[str, Any], key: str, default: Any) -> Any:
    value = params.get(key)
    return default if value is None else value


def _mapped_box(box: Sequence[float], params: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """(centre x, centre y, width, height) of the appliance's face box mapped to the model's box geometry."""
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = max(x1 - x0, 1.0), max(y1 - y0, 1.0)
    mapping = _param(params, "box", {}) or {}
    scale = float(mapping.get("scale", 1.0))
    cx = (x0 + x1) / 2 + float(mapping.get("shift_x", 0.0)) * w
    cy = (y0 + y1) / 2 + float(mapping.get("shift_y", 0.0)) * h
    return cx, cy, w * float(mapping.get("scale_w", scale)), h * float(mapping.get("scale_h", scale))


def _square_region(rgb: np.ndarray, cx: float, cy: float, side: float, params: Mapping[str, Any]) -> np.ndarray:
    """A square of `side` centred on (cx, cy), filled past the frame as the card's `border` says."""
    left, top = round(cx - side / 2), round(cy - side / 2)
    size = max(round(side), 2)
    height, width = rgb.shape[:2]
    pad = max(0, -left, -top, left + size - width, top + size - height)
    border = _BORDERS.get(str(_param(params, "border", "reflect_101")), cv2.BORDER_REFLECT_101)
    source = rgb
    if pad:
        # reflect_101 needs the border to be smaller than the image: fall back to replicate beyond that
        if border == cv2.BORDER_REFLECT_101 and pad >= min(height, width):
            border = cv2.BORDER_REPLICATE
        source = cv2.copyMakeBorder(rgb, pad, pad, pad, pad, border, value=(0, 0, 0))
    return source[top + pad : top + pad + size, left + pad : left + pad + size]


def _inside_region(rgb: np.ndarray, cx: float, cy: float, w: float, h: float, scale: float) -> np.ndarray:
    """The box scaled by `scale` (less where the frame is too small for it), moved inside the frame."""
    height, width = rgb.shape[:2]
    scale = min(scale, (height - 1) / h, (width - 1) / w)
    half_w, half_h = w * scale / 2, h * scale / 2
    left = min(max(cx - half_w, 0.0), width - 1 - 2 * half_w)
    top = min(max(cy - half_h, 0.0), height - 1 - 2 * half_h)
    return rgb[int(top) : int(top + 2 * half_h) + 1, int(left) : int(left + 2 * half_w) + 1]


def crop_face(
    rgb: np.ndarray,
    box: Sequence[float],
    params: Mapping[str, Any],
    jitter: tuple[float, float, float] = (0.0, 0.0, 1.0),
) -> np.ndarray:
    """The model's face crop (RGB uint8, input_size), as the card's params describe it: a square
    (`crop: square`, the default) or the box's own shape kept inside the frame (`crop: box_inside`)."""
    cx, cy, w, h = _mapped_box(box, params)
    crop_scale = float(_param(params, "crop_scale", 1.5))
    dx, dy, ds = jitter
    if _param(params, "crop", "square") == "box_inside":
        region = _inside_region(rgb, cx + dx * w * crop_scale, cy + dy * h * crop_scale, w, h, crop_scale * ds)
    else:
        side = max(w, h) * crop_scale
        region = _square_region(rgb, cx + dx * side, cy + dy * side, side * ds, params)
    out_w, out_h = (int(v) for v in _param(params, "input_size", [128, 128]))
    shrinking = max(region.shape[:2]) > max(out_w, out_h)
    return cv2.resize(region, (out_w, out_h), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LANCZOS4)


def prepare(crops: Sequence[np.ndarray], params: Mapping[str, Any]) -> np.ndarray:
    """A float32 batch of crops normalised and laid out as the card says."""
    batch = np.stack(crops).astype(np.float32)
    if str(_param(params, "color", "RGB")).upper() == "BGR":
        batch = batch[..., ::-1]
    scale = float(_param(params, "scale", 1 / 255))
    mean = np.asarray(_param(params, "mean", [0.0, 0.0, 0.0]), dtype=np.float32)
    std = np.asarray(_param(params, "std", [1.0, 1.0, 1.0]), dtype=np.float32)
    batch = (batch * scale - mean) / std
    if str(_param(params, "layout", "NCHW")).upper() == "NCHW":
        batch = batch.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32)


def live_log_odds(output: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
    """log(p_live / (1 - p_live)) per row of the model's output."""
    out = np.asarray(output, dtype=np.float64).reshape(len(output), -1)
    live = int(_param(params, "live_index", 0))
    if str(_param(params, "output", "logits")) == "probabilities":
        p = np.clip(out[:, live] / np.maximum(out.sum(axis=1), 1e-12), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))
    # softmax: log p_live - log(sum of the others)
    others = np.delete(out, live, axis=1)
    top = others.max(axis=1, keepdims=True)
    log_rest = top[:, 0] + np.log(np.exp(others - top).sum(axis=1))
    return np.clip(out[:, live] - log_rest, -_LOGIT_LIMIT, _LOGIT_LIMIT)


def p_live_of(log_odds: float) -> float:
    return 1.0 / (1.0 + math.exp(-log_odds))


def _run_one(
    model: ModelHandle,
    faces: Sequence[tuple[np.ndarray, Sequence[float]]],
    jitters: Sequence[tuple[float, float, float]],
) -> DetectorResult:
    result = DetectorResult(model.name, model.version, model.sha256)
    if not faces:
        return result
    params = model.params
    crops = [crop_face(rgb, box, params, j) for rgb, box in faces for j in jitters]
    try:
        output = model.run([prepare(crops, params)])[0]
    except Exception as exc:  # noqa: BLE001 - a broken model must not break the analysis: it is reported
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    odds = live_log_odds(output, params).reshape(len(faces), len(jitters))
    frame_odds = np.median(odds, axis=1)
    result.frames, result.crops = len(faces), len(crops)
    result.per_frame = [p_live_of(float(o)) for o in frame_odds]
    result.p_live = p_live_of(float(np.median(odds)))
    q1, q3 = np.percentile([p_live_of(float(o)) for o in odds.ravel()], [25, 75])
    result.spread = float(q3 - q1)
    return result


def run_pad(
    models: Iterable[ModelHandle],
    faces: Sequence[tuple[np.ndarray, Sequence[float]]],
    *,
    max_crops: int = 8,
) -> PadResult:
    """Score `faces` ((rgb frame, face box) pairs, one per sampled frame) with every PAD model.

    Each face gets `max_crops // len(faces)` jittered crops (at least 1, at most `len(JITTERS)`): a photo
    gets all of them, a long video one per frame, so the cost stays about `max_crops` model runs.
    """
    per_face = max(1, min(len(JITTERS), max_crops // max(len(faces), 1)))
    jitters = JITTERS[:per_face]
    detectors = [_run_one(model, faces, jitters) for model in models]
    scored = [d.p_live for d in detectors if d.p_live is not None]
    return PadResult(detectors, float(np.mean(scored)) if scored else None)
