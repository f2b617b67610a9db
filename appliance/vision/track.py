"""The face track of one media: its sampled frames' faces, the best frame, and one embedding.

For each sampled frame (an image is one frame; a video or shot set gives up to `max_frames`
spread evenly over it) the detector's faces are kept, best score first, with the primary face
(the largest) and its quality numbers, FaceMesh landmarks and, when the store has an eye model,
its eyelid contours (`eyes.py`).

The best frame is the frame with a face that maximises

    score x presence x (sharpness / the track's highest sharpness) x (width / the track's widest face)

(detection score, FaceMesh face flag, and the primary face's sharpness and width relative to the
best of the track), so a sharp, large, certain face wins. Its face gets the embedding, computed
once per media and embedding model version, and the aligned chip it was computed from (aligned
by a shape predictor or by the face's FaceMesh points, as the embedding model's card says).

Reasons of the track: NO_FACE when no sampled frame has a face; MULTIPLE_FACES when any sampled
frame has a second face (see `quality.frame_reasons`); FACE_TOO_SMALL when the best frame's face
is below the minimum width. The per-frame reasons are in `frames[i].reasons`.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from appliance.vision.detector import FaceDetection, detect_faces
from appliance.vision.embedding import Embedding, FaceEmbedder
from appliance.vision.eyes import EyeLandmarks, eye_landmarks
from appliance.vision.landmarks import FaceLandmarks, face_landmarks
from appliance.vision.models import model_ref
from appliance.vision.quality import (
    FaceQuality,
    FaceReason,
    QualitySettings,
    face_quality,
    frame_reasons,
    primary_index,
)

__all__ = ["FORMAT", "FaceTrack", "TrackFrame", "TrackModels", "compute_track"]

#: Version of the track's computation and serialisation; part of every cache key.
FORMAT = 3
#: Margin kept around a candidate face (times the box's longer side) for the embedding.
_CROP_MARGIN = 1.0


@dataclass(frozen=True, slots=True, eq=False)
class TrackFrame:
    """The faces of one sampled frame."""

    #: The frame's position in the whole video or shot set (0 for an image).
    index: int
    width: int
    height: int
    #: Every face found, best score first.
    detections: tuple[FaceDetection, ...]
    #: Position in `detections` of the primary (largest) face, None when there is no face.
    primary: int | None
    #: Quality numbers of the primary face.
    quality: FaceQuality | None
    #: FaceMesh landmarks of the primary face.
    landmarks: FaceLandmarks | None
    reasons: tuple[FaceReason, ...]
    #: Eyelid contours of the primary face; None without landmarks or without an eye model.
    eyes: EyeLandmarks | None = None

    @property
    def face(self) -> FaceDetection | None:
        """The primary face, or None."""
        return None if self.primary is None else self.detections[self.primary]

    def to_dict(self, *, points: bool = True) -> dict[str, Any]:
        """JSON-ready; `points=False` leaves the landmarks' points out (only their presence)."""
        landmarks = None
        if self.landmarks is not None:
            landmarks = self.landmarks.to_dict() if points else {"presence": float(self.landmarks.presence)}
        return {
            "index": self.index,
            "width": self.width,
            "height": self.height,
            "detections": [d.to_dict() for d in self.detections],
            "primary": self.primary,
            "quality": self.quality.to_dict() if self.quality else None,
            "landmarks": landmarks,
            "reasons": [str(r) for r in self.reasons],
            "eyes": self.eyes.to_dict() if self.eyes else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrackFrame:
        return cls(
            index=int(data["index"]),
            width=int(data["width"]),
            height=int(data["height"]),
            detections=tuple(FaceDetection.from_dict(d) for d in data["detections"]),
            primary=None if data["primary"] is None else int(data["primary"]),
            quality=FaceQuality.from_dict(data["quality"]) if data["quality"] else None,
            landmarks=FaceLandmarks.from_dict(data["landmarks"]) if data["landmarks"] else None,
            reasons=tuple(FaceReason(r) for r in data["reasons"]),
            eyes=EyeLandmarks.from_dict(data["eyes"]) if data["eyes"] else None,
        )


@dataclass(frozen=True, slots=True, eq=False)
class FaceTrack:
    """The faces of one media (see the module's docstring).

    One track is shared by every analysis of its media, so it is read-only: its arrays are not
    writeable and `models` is a read-only mapping (copy what you need to change).
    """

    media_id: str
    #: The sampling asked for: at most this many frames of a video or shot set.
    max_frames: int
    frames: tuple[TrackFrame, ...]
    #: Position in `frames` of the best frame, None when no frame has a face.
    best: int | None
    #: Embedding of the best frame's primary face.
    embedding: Embedding | None
    #: The aligned face crop (RGB uint8) the embedding was computed from.
    chip: np.ndarray | None = field(repr=False)
    reasons: tuple[FaceReason, ...]
    #: Every model used, name -> version (what an Outcome's `model_versions` records).
    models: Mapping[str, str]

    def __post_init__(self) -> None:
        object.__setattr__(self, "models", MappingProxyType(dict(self.models)))
        arrays = [self.chip, self.embedding.vector if self.embedding else None]
        for frame in self.frames:
            arrays += [d.keypoints for d in frame.detections]
            arrays.append(frame.landmarks.points if frame.landmarks else None)
            arrays.append(frame.eyes.lids if frame.eyes else None)
        for array in arrays:
            if array is not None:
                array.flags.writeable = False

    @property
    def best_frame(self) -> TrackFrame | None:
        return None if self.best is None else self.frames[self.best]

    @property
    def face(self) -> FaceDetection | None:
        """The best frame's primary face."""
        frame = self.best_frame
        return frame.face if frame else None

    @property
    def quality(self) -> FaceQuality | None:
        frame = self.best_frame
        return frame.quality if frame else None

    @property
    def landmarks(self) -> FaceLandmarks | None:
        frame = self.best_frame
        return frame.landmarks if frame else None

    @property
    def comparable(self) -> bool:
        """The best face has an embedding and is large enough to compare (no NO_FACE, no FACE_TOO_SMALL)."""
        return self.embedding is not None and not {FaceReason.NO_FACE, FaceReason.FACE_TOO_SMALL} & set(self.reasons)

    @property
    def frames_with_face(self) -> int:
        return sum(1 for f in self.frames if f.primary is not None)

    # Serialisation ------------------------------------------------------------------------------

    def to_dict(self, *, points: bool = True) -> dict[str, Any]:
        """JSON-ready, except `chip` (an array, or None); `points=False` leaves the FaceMesh points out."""
        return {
            "format": FORMAT,
            "media_id": self.media_id,
            "max_frames": self.max_frames,
            "frames": [f.to_dict(points=points) for f in self.frames],
            "best": self.best,
            "embedding": self.embedding.to_dict() if self.embedding else None,
            "chip": self.chip,
            "reasons": [str(r) for r in self.reasons],
            "models": dict(self.models),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FaceTrack:
        if data.get("format") != FORMAT:
            raise ValueError(f"face track format {data.get('format')!r}, this code reads {FORMAT}")
        chip = data.get("chip")
        return cls(
            media_id=str(data["media_id"]),
            max_frames=int(data["max_frames"]),
            frames=tuple(TrackFrame.from_dict(f) for f in data["frames"]),
            best=None if data["best"] is None else int(data["best"]),
            embedding=Embedding.from_dict(data["embedding"]) if data["embedding"] else None,
            chip=None if chip is None else np.asarray(chip, dtype=np.uint8),
            reasons=tuple(FaceReason(r) for r in data["reasons"]),
            models={str(k): str(v) for k, v in data["models"].items()},
        )

    def to_npz(self) -> bytes:
        """The track as .npz bytes: `meta` (JSON, UTF-8), `chip` (uint8, empty when None) and
        `points` (float32, the FaceMesh points of each frame with landmarks, in frame order: the
        bulk of a track, which as JSON numbers took ten times as long to write and read)."""
        meta = self.to_dict(points=False)
        chip = meta.pop("chip")
        points = [f.landmarks.points for f in self.frames if f.landmarks is not None]
        buffer = io.BytesIO()
        np.savez(
            buffer,
            meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
            chip=np.zeros((0, 0, 3), np.uint8) if chip is None else chip,
            points=np.stack(points) if points else np.zeros((0, 0, 3), np.float32),
        )
        return buffer.getvalue()

    @classmethod
    def from_npz(cls, source: bytes | Path) -> FaceTrack:
        """A track from `to_npz` bytes or a file holding them; ValueError if unreadable."""
        try:
            with np.load(io.BytesIO(source) if isinstance(source, bytes) else source, allow_pickle=False) as npz:
                meta = json.loads(npz["meta"].tobytes().decode())
                chip, points = npz["chip"], npz["points"]
            meta["chip"] = chip if chip.size else None
            landmarks = [f["landmarks"] for f in meta["frames"] if f["landmarks"] is not None]
            if len(landmarks) != len(points):
                raise ValueError(f"{len(points)} frames of landmark points for {len(landmarks)} frames with landmarks")
            for data, frame_points in zip(landmarks, points, strict=True):
                data["points"] = frame_points
            return cls.from_dict(meta)
        except (OSError, KeyError, TypeError, ValueError) as exc:  # JSON and Unicode errors are ValueErrors
            raise ValueError(f"not a face track: {exc}") from exc


# Computing a track ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrackModels:
    """The loaded models one track is computed with."""

    detector: Any
    landmarker: Any
    embedder: FaceEmbedder
    #: The eye (iris landmark) model; None where the store has none.
    eyes: Any | None = None

    def all(self) -> tuple[Any, ...]:
        optional = (self.eyes,) if self.eyes is not None else ()
        return (self.detector, self.landmarker, *optional, *self.embedder.models)

    def refs(self) -> tuple[str, ...]:
        """`name@version` of each model, for cache keys."""
        return tuple(model_ref(m) for m in self.all())

    def versions(self) -> dict[str, str]:
        return {m.name: m.version for m in self.all()}


@dataclass(slots=True)
class _Candidate:
    """The primary face of one frame, with the pixels around it kept for the embedding."""

    position: int
    crop: np.ndarray
    offset: tuple[int, int]
    detection: FaceDetection


def _keep_crop(rgb: np.ndarray, detection: FaceDetection) -> tuple[np.ndarray, tuple[int, int]]:
    """The face with `_CROP_MARGIN` x its side around it, and where it lies in the frame: a view of a
    read-only frame (its owner keeps it, as the analysis context keeps the frames it decoded), else
    a copy, so that a frame decoded only for the track can be freed before the track is done."""
    height, width = rgb.shape[:2]
    margin = max(detection.width, detection.height) * _CROP_MARGIN
    x0, y0 = max(0, math.floor(detection.box[0] - margin)), max(0, math.floor(detection.box[1] - margin))
    x1, y1 = min(width, math.ceil(detection.box[2] + margin)), min(height, math.ceil(detection.box[3] + margin))
    crop = rgb[y0:y1, x0:x1]
    return (crop.copy() if rgb.flags.writeable else crop), (x0, y0)


def _shifted(detection: FaceDetection, dx: float, dy: float) -> FaceDetection:
    x0, y0, x1, y1 = detection.box
    return FaceDetection(
        (x0 - dx, y0 - dy, x1 - dx, y1 - dy),
        detection.score,
        detection.keypoints - np.array([dx, dy], dtype=np.float32),
    )


def _shifted_landmarks(landmarks: FaceLandmarks, dx: float, dy: float) -> FaceLandmarks:
    points = np.array(landmarks.points, dtype=np.float32)
    points[:, 0] -= dx
    points[:, 1] -= dy
    return FaceLandmarks(points, landmarks.presence)


def _frame_value(frame: TrackFrame, sharpest: float, widest: float) -> float:
    quality, landmarks = frame.quality, frame.landmarks
    if quality is None:
        return -1.0
    presence = landmarks.presence if landmarks else 1.0
    sharp = quality.sharpness / sharpest if sharpest > 0 else 1.0
    size = quality.width_px / widest if widest > 0 else 1.0
    return quality.score * presence * sharp * size


def best_frame(frames: tuple[TrackFrame, ...]) -> int | None:
    """Position of the best frame (see the module's docstring), None when no frame has a face."""
    with_face = [f for f in frames if f.quality is not None]
    if not with_face:
        return None
    sharpest = max(f.quality.sharpness for f in with_face if f.quality)
    widest = max(f.quality.width_px for f in with_face if f.quality)
    return max(range(len(frames)), key=lambda i: _frame_value(frames[i], sharpest, widest))


def compute_track(
    media_id: str,
    frames: Iterable[tuple[int, np.ndarray]],
    models: TrackModels,
    *,
    max_frames: int,
    settings: QualitySettings | None = None,
    on_embed: Callable[[], None] | None = None,
) -> FaceTrack:
    """The face track of a media from its sampled `(frame_index, rgb)` frames."""
    settings = settings or QualitySettings()
    track_frames: list[TrackFrame] = []
    candidates: dict[int, _Candidate] = {}
    for index, rgb in frames:
        detections = tuple(detect_faces(models.detector, rgb))
        primary = primary_index(detections)
        quality = landmarks = eyes = None
        if primary is not None:
            face = detections[primary]
            quality = face_quality(rgb, face)
            landmarks = face_landmarks(models.landmarker, rgb, face)
            if models.eyes is not None:
                eyes = eye_landmarks(models.eyes, rgb, landmarks)
            crop, offset = _keep_crop(rgb, face)
            candidates[len(track_frames)] = _Candidate(len(track_frames), crop, offset, face)
        height, width = rgb.shape[:2]
        track_frames.append(
            TrackFrame(
                index, width, height, detections, primary, quality, landmarks, frame_reasons(detections, settings), eyes
            )
        )
    all_frames = tuple(track_frames)
    best = best_frame(all_frames)
    embedding = chip = None
    reasons: list[FaceReason] = []
    if best is None:
        reasons.append(FaceReason.NO_FACE)
    else:
        chosen = candidates[best]
        landmarks = all_frames[best].landmarks
        embedding, chip = models.embedder.embed_with_chip(
            chosen.crop,
            _shifted(chosen.detection, *chosen.offset),
            None if landmarks is None else _shifted_landmarks(landmarks, *chosen.offset),
        )
        if on_embed:
            on_embed()
        if any(FaceReason.MULTIPLE_FACES in f.reasons for f in all_frames):
            reasons.append(FaceReason.MULTIPLE_FACES)
        if FaceReason.FACE_TOO_SMALL in all_frames[best].reasons:
            reasons.append(FaceReason.FACE_TOO_SMALL)
    return FaceTrack(
        media_id=media_id,
        max_frames=max_frames,
        frames=all_frames,
        best=best,
        embedding=embedding,
        chip=chip,
        reasons=tuple(reasons),
        models=models.versions(),
    )
