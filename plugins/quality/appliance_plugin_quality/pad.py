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
| `output` | `logits` | `logits` (softmax taken here), `probabilities`, `live_probability`, `attack_probability` or `leaf_scores` (below) |
| `max_batch` | none | at most this many crops per run (1 for a model whose input has a fixed batch of one) |
| `max_crops` | 8 | crops scored per media: a costly model scores fewer frames |
| `min_context` | 0 | with `crop: box_inside`, a face whose frame holds less than this share of the crop's scale is not scored by this model (a tight face crop has none of the surroundings a 2.7x model judges) |

`live_probability` and `attack_probability` are one column, a binary classifier's sigmoid: the
chance that the face is live, or an attack. `leaf_scores` is the output of a deep-tree network
(the syaringan model): two outputs, each leaf's prediction and the mask of the leaf the input
reached; the chance of an attack is the sum of |prediction| x mask.

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

from .cues import Cue, pad_cue_name

__all__ = [
    "JITTERS",
    "DetectorResult",
    "PadResult",
    "context_share",
    "crop_face",
    "live_log_odds",
    "p_live_of",
    "prepare",
    "run_pad",
]

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
#: Outputs of one column (a binary classifier's sigmoid), by the sign that makes it live log-odds.
_ONE_COLUMN = {"live_probability": 1.0, "attack_probability": -1.0}


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
    #: The median live log-odds over every crop (p_live's log-odds), None when nothing was scored.
    live_log_odds: float | None = None
    #: Why the model did not score this media although it ran (a face without the surroundings it needs).
    abstained: str | None = None
    error: str | None = None

    @property
    def cue(self) -> Cue | None:
        """The model's cue for the fusion: its attack log-odds (minus the live log-odds)."""
        if self.live_log_odds is None:
            return None
        return Cue(pad_cue_name(self.name), -self.live_log_odds, {"p_live": self.p_live or 0.0})

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
            "abstained": self.abstained,
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

    @property
    def cues(self) -> list[Cue]:
        return [cue for cue in (d.cue for d in self.detectors) if cue is not None]


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


def context_share(shape: Sequence[int], box: Sequence[float], params: Mapping[str, Any]) -> float:
    """The share of the card's crop scale a `box_inside` crop of this box gets in a frame of `shape`
    (1: all of it; a square crop is padded instead, so always 1)."""
    if _param(params, "crop", "square") != "box_inside":
        return 1.0
    _, _, w, h = _mapped_box(box, params)
    scale = float(_param(params, "crop_scale", 1.5))
    return min(1.0, (shape[0] - 1) / h / scale, (shape[1] - 1) / w / scale)


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


def live_log_odds(outputs: Sequence[np.ndarray], params: Mapping[str, Any]) -> np.ndarray:
    """log(p_live / (1 - p_live)) per row of the model's outputs (one array per model output)."""
    kind = str(_param(params, "output", "logits"))
    if kind == "leaf_scores":
        predictions, mask = (np.asarray(o, dtype=np.float64).reshape(len(o), -1) for o in outputs[:2])
        p_attack = np.clip((np.abs(predictions) * mask).sum(axis=1), 1e-6, 1 - 1e-6)
        return np.clip(np.log((1 - p_attack) / p_attack), -_LOGIT_LIMIT, _LOGIT_LIMIT)
    output = outputs[0]
    out = np.asarray(output, dtype=np.float64).reshape(len(output), -1)
    if kind in _ONE_COLUMN:
        if out.shape[1] != 1:
            raise ValueError(f"output {kind} needs one column per crop, the model gives {out.shape[1]}")
        p = np.clip(out[:, 0], 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p)) * _ONE_COLUMN[kind]
    if out.shape[1] < 2:  # one class's share of itself is 1: the cue would be a constant
        raise ValueError(
            f"output {kind} needs a column per class, the model gives one: give live_probability or attack_probability"
        )
    live = int(_param(params, "live_index", 0))
    if kind == "probabilities":
        p = np.clip(out[:, live] / np.maximum(out.sum(axis=1), 1e-12), 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))
    # softmax: log p_live - log(sum of the others)
    others = np.delete(out, live, axis=1)
    top = others.max(axis=1, keepdims=True)
    log_rest = top[:, 0] + np.log(np.exp(others - top).sum(axis=1))
    return np.clip(out[:, live] - log_rest, -_LOGIT_LIMIT, _LOGIT_LIMIT)


def p_live_of(log_odds: float) -> float:
    return 1.0 / (1.0 + math.exp(-log_odds))


def _scored(model: ModelHandle, crops: Sequence[np.ndarray]) -> np.ndarray:
    """The live log-odds of every crop, in batches of at most the card's `max_batch`."""
    params = model.params
    batch = int(_param(params, "max_batch", len(crops)))
    odds = [
        live_log_odds(model.run([prepare(crops[start : start + batch], params)]), params)
        for start in range(0, len(crops), batch)
    ]
    return np.concatenate(odds)


def _run_one(model: ModelHandle, faces: Sequence[tuple[np.ndarray, Sequence[float]]], max_crops: int) -> DetectorResult:
    result = DetectorResult(model.name, model.version, model.sha256)
    max_crops = min(max_crops, int(_param(model.params, "max_crops", max_crops)))
    min_context = float(_param(model.params, "min_context", 0.0))
    seen = [(rgb, box) for rgb, box in faces if context_share(rgb.shape, box, model.params) >= min_context]
    if faces and not seen:
        result.abstained = (
            f"the frame holds less than {min_context:.0%} of the {_param(model.params, 'crop_scale', 1.5)}x crop"
        )
    faces = _spread(seen, max_crops)
    if not faces:
        return result
    jitters = JITTERS[: max(1, min(len(JITTERS), max_crops // len(faces)))]
    crops = [crop_face(rgb, box, model.params, j) for rgb, box in faces for j in jitters]
    try:
        odds = _scored(model, crops).reshape(len(faces), len(jitters))
    except Exception as exc:  # noqa: BLE001 - a broken model must not break the analysis: it is reported
        result.error = f"{type(exc).__name__}: {exc}"
        return result
    frame_odds = np.median(odds, axis=1)
    result.frames, result.crops = len(faces), len(crops)
    result.per_frame = [p_live_of(float(o)) for o in frame_odds]
    result.live_log_odds = float(np.median(odds))
    result.p_live = p_live_of(result.live_log_odds)
    q1, q3 = np.percentile([p_live_of(float(o)) for o in odds.ravel()], [25, 75])
    result.spread = float(q3 - q1)
    return result


def _spread(items: Sequence[Any], count: int) -> list[Any]:
    """At most `count` of `items`, evenly spread, in order."""
    if len(items) <= count:
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def run_pad(
    models: Iterable[ModelHandle],
    faces: Sequence[tuple[np.ndarray, Sequence[float]]],
    *,
    max_crops: int = 8,
) -> PadResult:
    """Score `faces` ((rgb frame, face box) pairs, one per sampled frame) with every PAD model.

    Each model scores at most `max_crops` crops (fewer when its card's `max_crops` says so): up to
    that many faces, evenly spread, each on `max_crops // faces` jittered crops (at least 1, at most
    `len(JITTERS)`): a photo gets all of them, a video one on each of several frames.
    """
    detectors = [_run_one(model, faces, max_crops) for model in models]
    scored = [d.p_live for d in detectors if d.p_live is not None]
    return PadResult(detectors, float(np.mean(scored)) if scored else None)
