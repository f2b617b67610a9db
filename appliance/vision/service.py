"""The vision service: one per process, giving each media's face track, computed once.

    runtime = ModelRuntime(ModelStore(settings.models_path))
    vision = VisionService(runtime, cache_dir=storage.track_cache_dir)   # or None: nothing on disk
    track = vision.face_track(media, max_frames=16)

A track is looked up, in order, in the process's LRU, then on disk (`cache_dir(media_id)`), and
only then computed, under the media directory's lock so that analyses in different worker
processes compute it once. Its key covers the media (id and, when known, sha256), the sampling,
the quality settings, the track format and `name@version` of every model used: a new active model
version gives a new key, so stale tracks are never read. `stats` counts what was done, so a test
(or an operator) can see that a media was decoded and embedded once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import weakref
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from appliance.domain.enums import MediaKind
from appliance.media.decode import iter_frames_rgb
from appliance.ops import metrics
from appliance.vision.cache import MemoryCache, locked, read_track, track_path, write_track
from appliance.vision.detector import DEFAULT_DETECTOR, FaceDetection, detect_faces
from appliance.vision.embedding import FaceEmbedder, embedder_for, preferred_embedder
from appliance.vision.eyes import DEFAULT_EYE_MODEL
from appliance.vision.landmarks import DEFAULT_LANDMARKER, FaceLandmarks, face_landmarks
from appliance.vision.models import ModelProvider
from appliance.vision.quality import QualitySettings
from appliance.vision.track import FORMAT, FaceTrack, TrackModels, compute_track

__all__ = ["DEFAULT_MAX_FRAMES", "MediaLike", "VisionService", "VisionStats"]

log = logging.getLogger(__name__)

DEFAULT_MAX_FRAMES = 10

_Frames = Iterable[tuple[int, np.ndarray]]


class MediaLike(Protocol):
    """What a face track needs to know of a media (an `appliance.sdk.MediaInput` fits)."""

    @property
    def media_id(self) -> str: ...

    @property
    def kind(self) -> MediaKind: ...

    @property
    def path(self) -> Path: ...


@dataclass(slots=True)
class VisionStats:
    """What this service did since it was made (counts)."""

    #: Media decoded to compute a track (frames a caller handed in do not count).
    decodes: int = 0
    #: Frames those decodes gave.
    frames: int = 0
    #: Tracks computed, the frames they hold, and embeddings computed for them.
    computed: int = 0
    tracked_frames: int = 0
    embeddings: int = 0
    #: Tracks found in the process's LRU, and on disk.
    memory_hits: int = 0
    disk_hits: int = 0
    #: Milliseconds spent computing tracks.
    compute_ms: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


class VisionService:
    """Face tracks of media, from the models of `runtime` (see the module's docstring).

    `cache_dir` is where a media's tracks are stored: a function of the media id (the appliance
    gives `MediaStorage.track_cache_dir`), or a root directory (then `<root>/<media_id>/`), or None for
    no files at all (the instant mode): then only the in-process LRU of `memory_items` tracks.
    """

    def __init__(
        self,
        runtime: ModelProvider,
        cache_dir: Callable[[str], Path] | Path | None = None,
        *,
        detector: str = DEFAULT_DETECTOR,
        landmarker: str = DEFAULT_LANDMARKER,
        embedder: str | None = None,
        eye_model: str = DEFAULT_EYE_MODEL,
        quality: QualitySettings | None = None,
        memory_items: int = 8,
    ) -> None:
        self.runtime = runtime
        if isinstance(cache_dir, Path):
            root = cache_dir
            self._cache_dir: Callable[[str], Path] | None = lambda media_id: root / media_id
        else:
            self._cache_dir = cache_dir
        self.detector_name = detector
        self.landmarker_name = landmarker
        self.embedder_name = embedder
        self.eye_model_name = eye_model
        self.quality = quality or QualitySettings()
        self.stats = VisionStats()
        self._memory = MemoryCache(memory_items)
        self._stats_lock = threading.Lock()
        self._key_locks: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
        self._key_locks_guard = threading.Lock()

    # Models -------------------------------------------------------------------------------------

    def models(self, *, eyes: bool = False) -> TrackModels:
        """The active version of every model a track uses (read anew each call). The eye model
        only with `eyes`, and only when the store has one (else tracks without eyelid contours)."""
        eyes = eyes and self.eye_model_name in self.runtime.active_versions()
        return TrackModels(
            detector=self.runtime.get(self.detector_name),
            landmarker=self.runtime.get(self.landmarker_name),
            embedder=self.embedder(),
            eyes=self.runtime.get(self.eye_model_name) if eyes else None,
        )

    def embedder(self) -> FaceEmbedder:
        """The embedder of the model named when this service was made, else of the store's
        preferred embedding model (`preferred_embedder`: a bundle that installs a better one
        switches to it at the next track)."""
        return embedder_for(self.runtime, self.embedder_name or preferred_embedder(self.runtime))

    # One image, no caching ----------------------------------------------------------------------

    def detect(self, rgb: np.ndarray) -> list[FaceDetection]:
        """Faces in an RGB uint8 image, best score first (no caching)."""
        return detect_faces(self.runtime.get(self.detector_name), rgb)

    def landmarks(self, rgb: np.ndarray, detection: FaceDetection) -> FaceLandmarks:
        return face_landmarks(self.runtime.get(self.landmarker_name), rgb, detection)

    # Tracks -------------------------------------------------------------------------------------

    def track_key(self, media: MediaLike, max_frames: int, models: TrackModels) -> str:
        """The cache key of a media's track: 24 hex digits of a hash of everything it depends on."""
        ident = {
            "format": FORMAT,
            "media_id": media.media_id,
            "sha256": getattr(media, "sha256", None),
            "max_frames": max_frames,
            "quality": asdict(self.quality),
            "models": models.refs(),
        }
        return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:24]

    def face_track(
        self,
        media: MediaLike,
        max_frames: int = DEFAULT_MAX_FRAMES,
        *,
        eyes: bool = False,
        frames: Callable[[], _Frames] | None = None,
        persist: bool = True,
    ) -> FaceTrack:
        """The face track of `media` over up to `max_frames` sampled frames (an image has one).

        `eyes` adds each face's eyelid contours (the iris model on both eyes: about a quarter of a
        frame's cost, so only for what needs them, a blink); a track with eyes is another track.
        `frames`, if given, supplies those same sampled frames (decoded already by the caller);
        otherwise the media is decoded here, only when the track is in no cache. `persist=False`
        keeps the track off the disk (a file that is no media, such as a plugin's photo, whose
        deletion would not remove a track stored beside media).
        """
        if max_frames < 1:
            raise ValueError(f"max_frames must be at least 1, not {max_frames}")
        if media.kind is MediaKind.IMAGE:
            max_frames = 1  # one frame whatever the limit: one cache entry
        models = self.models(eyes=eyes)
        key = self.track_key(media, max_frames, models)
        track = self._memory.get(key)
        if track is not None:
            self._count(memory_hits=1)
            return track
        with self._key_lock(key):
            track = self._memory.get(key)
            if track is not None:
                self._count(memory_hits=1)
                return track
            directory = self.cache_dir(media.media_id) if persist else None
            track = self._from_disk_or_compute(media, max_frames, models, key, directory, frames)
            self._memory.put(key, track)
            return track

    def cache_dir(self, media_id: str) -> Path | None:
        """The directory a media's tracks are stored in, None when tracks are not stored."""
        return self._cache_dir(media_id) if self._cache_dir else None

    def forget(self, media_id: str) -> None:
        """Drop a media's tracks from the process's LRU (the instant mode, once it has answered)."""
        self._memory.drop(media_id)

    # Helpers ------------------------------------------------------------------------------------

    def _from_disk_or_compute(
        self,
        media: MediaLike,
        max_frames: int,
        models: TrackModels,
        key: str,
        directory: Path | None,
        frames: Callable[[], _Frames] | None,
    ) -> FaceTrack:
        if directory is None:
            return self._compute(media, max_frames, models, frames)
        try:
            with locked(directory):
                path = track_path(directory, key)
                track = read_track(path)
                if track is not None:
                    self._count(disk_hits=1)
                    return track
                track = self._compute(media, max_frames, models, frames)
                write_track(path, track)
                if not Path(media.path).exists():  # the media was deleted meanwhile: keep nothing
                    path.unlink(missing_ok=True)
                return track
        except OSError as exc:  # e.g. the media's directory removed while computing
            log.warning("face track of media %s not cached on disk: %s", media.media_id, exc)
            return self._compute(media, max_frames, models, frames)

    def _compute(
        self, media: MediaLike, max_frames: int, models: TrackModels, frames: Callable[[], _Frames] | None
    ) -> FaceTrack:
        decoded = 0

        def counted(source: _Frames) -> _Frames:
            nonlocal decoded
            for item in source:
                decoded += 1
                yield item

        with metrics.stage("face_track") as watch:
            if frames is not None:
                source = frames()
            else:
                source = counted(iter_frames_rgb(Path(media.path), media.kind, max_frames))
            track = compute_track(
                media.media_id,
                source,
                models,
                max_frames=max_frames,
                settings=self.quality,
                on_embed=lambda: self._count(embeddings=1),
            )
        elapsed = watch.seconds * 1000
        self._count(
            computed=1,
            tracked_frames=len(track.frames),
            decodes=1 if frames is None else 0,
            frames=decoded,
            compute_ms=elapsed,
        )
        log.info(
            "face track of media %s: %d frames, %d with a face, %.0f ms",
            media.media_id,
            len(track.frames),
            track.frames_with_face,
            elapsed,
        )
        return track

    def _key_lock(self, key: str) -> threading.Lock:
        with self._key_locks_guard:
            lock = self._key_locks.get(key)
            if lock is None:
                lock = threading.Lock()
                self._key_locks[key] = lock
            return lock

    def _count(self, **deltas: Any) -> None:
        with self._stats_lock:
            for name, delta in deltas.items():
                setattr(self.stats, name, getattr(self.stats, name) + delta)
