"""Face perception shared by every analysis: detection, landmarks, quality, embeddings, face tracks.

Models come from `appliance.runtime` (by name, active version); pixels from `appliance.media`.

- `detector`: BlazeFace (full range by default) with SSD anchors and weighted NMS -> `FaceDetection`.
- `landmarks`: FaceMesh's 468 points from a detection -> `FaceLandmarks`.
- `embedding`: aligned chip + embedding model (dlib ResNet by default) -> `Embedding`; `distance`.
- `quality`: size, sharpness, brightness, rough pose, and the reasons NO_FACE, MULTIPLE_FACES,
  FACE_TOO_SMALL.
- `track`: `FaceTrack`, the faces of one media's sampled frames, its best frame and embedding.
- `service`: `VisionService.face_track(media)`, computed once per media and model versions, kept
  in an in-process LRU and on disk beside the media.
"""

from __future__ import annotations

from appliance.vision.detector import DEFAULT_DETECTOR, FaceDetection, detect_faces
from appliance.vision.embedding import DEFAULT_EMBEDDER, Embedding, FaceEmbedder, distance, embedder_for
from appliance.vision.landmarks import DEFAULT_LANDMARKER, FaceLandmarks, face_landmarks
from appliance.vision.quality import FaceQuality, FaceReason, QualitySettings, face_quality, frame_reasons
from appliance.vision.service import DEFAULT_MAX_FRAMES, VisionService, VisionStats
from appliance.vision.track import FaceTrack, TrackFrame

__all__ = [
    "DEFAULT_DETECTOR",
    "DEFAULT_EMBEDDER",
    "DEFAULT_LANDMARKER",
    "DEFAULT_MAX_FRAMES",
    "Embedding",
    "FaceDetection",
    "FaceEmbedder",
    "FaceLandmarks",
    "FaceQuality",
    "FaceReason",
    "FaceTrack",
    "QualitySettings",
    "TrackFrame",
    "VisionService",
    "VisionStats",
    "detect_faces",
    "distance",
    "embedder_for",
    "face_landmarks",
    "face_quality",
    "frame_reasons",
]
