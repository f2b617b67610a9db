"""BlazeFace face detection (MediaPipe's short- and full-range models) with SSD anchor decoding.

The image is letterboxed (scaled to fit, centred, zero padded) into the model's square input,
scaled to [-1, 1]. Each anchor's raw output is a box (centre offset and size, in input pixels)
and 6 keypoints; boxes and keypoints are decoded against MediaPipe's SSD anchors, mapped back to
source pixels, scored with a sigmoid of the raw score clipped at +-80, kept from `min_score`, and
merged by weighted non-maximum suppression (overlapping boxes are averaged, weighted by score).

Full range (192 px input, one anchor per 4 px cell) is the default: it finds faces down to about
5 % of the frame; short range (128 px) is for selfie-distance faces and misses a 90 px face in a
720p frame.

A face that fills the frame (a tight face crop, a portrait cut from an ID page, a face touching
every border) is what full range was not trained on: on the shared data it found no face in 127 of
289 PAD crops and 31 of 198 identity photos. When a frame gives no face, it is looked at again with
a black margin of half its longer side on every side (`CLOSE_FACE_MARGIN`), so that the face fills
about half of the detector's input: with that retry every one of those crops and photos has its
face, and a frame that has a face somewhere costs nothing more.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from appliance.ops import metrics
from appliance.vision.models import card_param

__all__ = [
    "CLOSE_FACE_MARGIN",
    "DEFAULT_DETECTOR",
    "FULL_RANGE",
    "SHORT_RANGE",
    "FaceDetection",
    "SsdOptions",
    "detect_faces",
    "ssd_anchors",
]

#: The detector used when none is named: full range finds far faces too.
DEFAULT_DETECTOR = "blazeface-full"

#: Black margin added on every side, times the frame's longer side, to look again at a frame
#: in which no face was found (a face filling the frame).
CLOSE_FACE_MARGIN = 0.5

#: Keypoint order: the eye on the image's left (the person's right), the other eye, nose tip,
#: mouth centre, the ear tragion on the image's left, the other one.
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth", "right_ear", "left_ear")


@dataclass(frozen=True, slots=True)
class SsdOptions:
    """How a BlazeFace model's anchors are laid out and its output read (MediaPipe's
    SsdAnchorsCalculator with fixed-size anchors, and TensorsToDetectionsCalculator)."""

    input_size: int
    #: One stride per layer; consecutive layers with the same stride share one grid of cells.
    strides: tuple[int, ...]
    #: Anchors each layer puts in each cell of its grid.
    anchors_per_layer: int = 1
    anchor_offset: float = 0.5
    num_keypoints: int = 6
    min_score: float = 0.5
    nms_iou: float = 0.3
    raw_score_limit: float = 80.0


SHORT_RANGE = SsdOptions(input_size=128, strides=(8, 16, 16, 16), anchors_per_layer=2)
FULL_RANGE = SsdOptions(input_size=192, strides=(4,), anchors_per_layer=1)
_DEFAULTS = {"blazeface-short": SHORT_RANGE, "blazeface-full": FULL_RANGE}


@dataclass(frozen=True, slots=True, eq=False)
class FaceDetection:
    """One face found in a frame, in that frame's pixels."""

    #: (x0, y0, x1, y1): left, top, right, bottom.
    box: tuple[float, float, float, float]
    #: Detection confidence in [0, 1].
    score: float
    #: (6, 2) float32 (x, y): eye on the image's left, other eye, nose tip, mouth, ear tragion on
    #: the image's left, other ear tragion (see `KEYPOINT_NAMES`).
    keypoints: np.ndarray = field(repr=False)

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def center(self) -> tuple[float, float]:
        return (self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2

    @property
    def area(self) -> float:
        return max(self.width, 0.0) * max(self.height, 0.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: `box`, `score`, `keypoints` as lists."""
        return {
            "box": [float(v) for v in self.box],
            "score": float(self.score),
            "keypoints": np.asarray(self.keypoints, dtype=float).tolist(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaceDetection:
        x0, y0, x1, y1 = (float(v) for v in data["box"])
        return cls((x0, y0, x1, y1), float(data["score"]), np.asarray(data["keypoints"], dtype=np.float32))


def options_for(model: Any) -> SsdOptions:
    """The model's SSD options from its card's params (`input.size`, `anchors.strides`,
    `anchors.anchors_per_layer`, `anchors.anchor_offset`, `decode.keypoints`, `decode.min_score`,
    `decode.nms_iou`, `decode.raw_score_clip`); what the card leaves out comes from the documented
    constants of its name (full range for a name not known here)."""
    base = _DEFAULTS.get(getattr(model, "name", ""), FULL_RANGE)
    size = card_param(model, "input", "size", default=None)
    keypoints = card_param(model, "decode", "keypoints", default=None)
    return SsdOptions(
        input_size=int(size[0]) if size else base.input_size,
        strides=tuple(int(s) for s in card_param(model, "anchors", "strides", default=base.strides)),
        anchors_per_layer=int(card_param(model, "anchors", "anchors_per_layer", default=base.anchors_per_layer)),
        anchor_offset=float(card_param(model, "anchors", "anchor_offset", default=base.anchor_offset)),
        num_keypoints=len(keypoints) if keypoints else base.num_keypoints,
        min_score=float(card_param(model, "decode", "min_score", default=base.min_score)),
        nms_iou=float(card_param(model, "decode", "nms_iou", default=base.nms_iou)),
        raw_score_limit=float(card_param(model, "decode", "raw_score_clip", default=base.raw_score_limit)),
    )


@functools.lru_cache(maxsize=8)
def ssd_anchors(options: SsdOptions) -> np.ndarray:
    """(N, 2) float32 anchor centres in [0, 1], in the order of the model's outputs."""
    centres: list[np.ndarray] = []
    strides = options.strides
    layer = 0
    while layer < len(strides):
        per_cell = 0
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            per_cell += options.anchors_per_layer
            last += 1
        cells = math.ceil(options.input_size / strides[layer])
        grid = (np.arange(cells, dtype=np.float32) + options.anchor_offset) / cells
        ys, xs = np.meshgrid(grid, grid, indexing="ij")
        cell_centres = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(cell_centres, per_cell, axis=0))
        layer = last
    return np.concatenate(centres).astype(np.float32)


@dataclass(frozen=True, slots=True)
class _Letterbox:
    scale_x: float  # input pixels per source pixel
    scale_y: float
    pad_x: float  # left padding, input pixels
    pad_y: float


def _letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, _Letterbox]:
    """The image scaled to fit `size` x `size`, centred on black, as float32 [-1, 1] NHWC."""
    height, width = rgb.shape[:2]
    scale = size / max(height, width)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = (
        _shrink(rgb, (new_w, new_h)) if scale < 1 else cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    )
    pad_x, pad_y = (size - new_w) // 2, (size - new_h) // 2
    canvas = np.full((size, size, 3), -1.0, dtype=np.float32)
    canvas[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized.astype(np.float32) * (2.0 / 255.0) - 1.0
    return canvas[np.newaxis], _Letterbox(new_w / width, new_h / height, pad_x, pad_y)


def _shrink(rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`rgb` scaled down to `size` (width, height), close to OpenCV's INTER_AREA at a tenth of its cost.

    INTER_AREA at a ratio that is not a whole number (a 720p frame to 192 pixels) takes about
    2.7 ms a frame; bilinear to twice the size, then INTER_AREA's whole-ratio path by 2, about
    0.2 ms, and differs from it by under one grey level on average.
    """
    width, height = size
    if rgb.shape[1] < 4 * width or rgb.shape[0] < 4 * height:
        return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    double = cv2.resize(rgb, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(double, size, interpolation=cv2.INTER_AREA)


def _split_outputs(outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(raw boxes (N, 4 + 2K), raw scores (N,)) whichever order the model lists them in."""
    arrays = [np.asarray(o).reshape(-1, np.asarray(o).shape[-1]) for o in outputs]
    boxes = next(a for a in arrays if a.shape[-1] > 1)
    scores = next(a for a in arrays if a.shape[-1] == 1)
    return boxes, scores[:, 0]


def _iou(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], others[:, 0])
    y0 = np.maximum(box[1], others[:, 1])
    x1 = np.minimum(box[2], others[:, 2])
    y1 = np.minimum(box[3], others[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou: float
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted non-maximum suppression.

    Candidates are taken by falling score; each takes every remaining candidate overlapping it by
    more than `iou`, and becomes their score-weighted average box and keypoints, with its own
    score. Returns (box (4,), keypoints (K, 2), score) triples, best first.
    """
    order = np.argsort(-scores, kind="stable")
    results: list[tuple[np.ndarray, np.ndarray, float]] = []
    while order.size:
        top = order[0]
        overlaps = _iou(boxes[top], boxes[order]) > iou
        overlaps[0] = True
        members = order[overlaps]
        weights = scores[members][:, np.newaxis]
        total = float(weights.sum())
        box = (boxes[members] * weights).sum(axis=0) / total
        points = (keypoints[members] * weights[:, :, np.newaxis]).sum(axis=0) / total
        results.append((box, points, float(scores[top])))
        order = order[~overlaps]
    return results


@metrics.timed("detect")
def detect_faces(
    model: Any, rgb: np.ndarray, *, min_score: float | None = None, options: SsdOptions | None = None
) -> list[FaceDetection]:
    """Faces in an RGB uint8 frame (H, W, 3), best score first, in the frame's pixels.

    `model` is a loaded BlazeFace LiteRT model (`invoke([input]) -> outputs`); its options come
    from `options_for(model)` unless given. `min_score` overrides the options' minimum score.
    A frame with no face is looked at again inside a black margin (`CLOSE_FACE_MARGIN`): a face
    filling the frame is then found, its box reaching to (or past) the frame's edges.
    """
    opts = options or options_for(model)
    threshold = opts.min_score if min_score is None else min_score
    faces = _detect(model, rgb, opts, threshold)
    if faces:
        return faces
    margin = round(max(rgb.shape[:2]) * CLOSE_FACE_MARGIN)
    framed = cv2.copyMakeBorder(rgb, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=(0, 0, 0))
    return [_shifted(face, margin) for face in _detect(model, framed, opts, threshold)]


def _shifted(face: FaceDetection, margin: float) -> FaceDetection:
    """`face` found in a frame with `margin` pixels around it, in the frame's own pixels."""
    x0, y0, x1, y1 = face.box
    return FaceDetection((x0 - margin, y0 - margin, x1 - margin, y1 - margin), face.score, face.keypoints - margin)


def _detect(model: Any, rgb: np.ndarray, opts: SsdOptions, threshold: float) -> list[FaceDetection]:
    tensor, fit = _letterbox(rgb, opts.input_size)
    raw_boxes, raw_scores = _split_outputs(model.invoke([tensor]))
    anchors = ssd_anchors(opts)
    if raw_boxes.shape[0] != anchors.shape[0]:
        raise ValueError(
            f"{getattr(model, 'name', 'the detector')} gives {raw_boxes.shape[0]} boxes, "
            f"its anchors are {anchors.shape[0]}: its card's SSD params do not fit it"
        )
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores, -opts.raw_score_limit, opts.raw_score_limit)))
    keep = np.flatnonzero(scores >= threshold)
    if keep.size == 0:
        return []
    raw = raw_boxes[keep]
    anchor = anchors[keep]
    size = float(opts.input_size)
    # centres and keypoints: offsets from the anchor in input pixels; sizes: input pixels
    cx = raw[:, 0] + anchor[:, 0] * size
    cy = raw[:, 1] + anchor[:, 1] * size
    half_w, half_h = raw[:, 2] / 2, raw[:, 3] / 2
    boxes = np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], axis=1)
    points = raw[:, 4 : 4 + 2 * opts.num_keypoints].reshape(-1, opts.num_keypoints, 2)
    points = points + anchor[:, np.newaxis, :] * size
    # input pixels -> source pixels
    offset = np.array([fit.pad_x, fit.pad_y], dtype=np.float32)
    scale = np.array([fit.scale_x, fit.scale_y], dtype=np.float32)
    boxes = (boxes - np.tile(offset, 2)) / np.tile(scale, 2)
    points = (points - offset) / scale
    merged = weighted_nms(boxes, points, scores[keep], opts.nms_iou)
    return [
        FaceDetection(
            box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
            score=score,
            keypoints=np.asarray(p, dtype=np.float32),
        )
        for b, p, score in merged
    ]
