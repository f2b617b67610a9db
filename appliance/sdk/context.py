"""What an analyzer gets besides its request: the site's thresholds, decoded media and face tracks."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from appliance.domain.enums import MediaKind
from appliance.media.decode import iter_frames_rgb, read_frame_rgb
from appliance.runtime.errors import ModelNotFoundError
from appliance.sdk.errors import FaceModelsUnavailable, PluginServicesUnavailable
from appliance.sdk.types import MediaInput
from appliance.vision.models import LoadedModelLike
from appliance.vision.service import DEFAULT_MAX_FRAMES, VisionService
from appliance.vision.track import FaceTrack

if TYPE_CHECKING:
    from appliance.sdk.services import PluginServices

__all__ = ["AnalysisContext", "FaceModelsUnavailable", "ModelHandle", "PluginServicesUnavailable"]

_Frame = tuple[int, np.ndarray]


@dataclass(frozen=True, eq=False)
class ModelHandle:
    """A model of the site's model store, loaded and verified, as `ctx.models(task)` gives it."""

    name: str
    version: str
    #: sha256 of the model's main file: what a result records as the model's identity.
    sha256: str
    task: str
    #: The card's task-specific `params` (docs/model-store.md): how to prepare the input, read the output.
    params: Mapping[str, Any]
    _loaded: LoadedModelLike = field(repr=False)

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the model: one array per model input, in order; returns one array per output."""
        return self._loaded.invoke(list(inputs))


class AnalysisContext:
    """Passed to `analyze(request, ctx)`. One context serves one analysis.

    Decoded frames are kept for the life of the context, so two calls for the same media (and
    the same `max_frames`) decode once. Frames are shared, hence read-only: copy one before
    changing it in place. All the frames of a video (`max_frames=None`) could outgrow memory,
    so those are decoded as they are read and not kept.
    """

    def __init__(
        self,
        thresholds: Mapping[str, float] | None = None,
        vision: VisionService | None = None,
        services: PluginServices | None = None,
    ) -> None:
        #: The site's decision thresholds (`liveness`, `biometry`, `collection`), as in the request.
        self.thresholds: dict[str, float] = dict(thresholds or {})
        self._vision = vision
        self._services = services
        self._frames: dict[tuple[Path, MediaKind, int | None], tuple[_Frame, ...]] = {}
        self._first: dict[tuple[Path, MediaKind], np.ndarray] = {}

    def frames(self, media: MediaInput, max_frames: int | None = None) -> Iterator[_Frame]:
        """`(frame_index, rgb)` pairs: RGB uint8 arrays of shape (height, width, 3), in order.

        An image gives one frame, upright. A video gives up to `max_frames` frames spread evenly
        over its length (every frame if None); a shot set its images, sampled the same way.
        `frame_index` is the frame's position in the whole video or shot set.
        """
        if media.kind is MediaKind.IMAGE:
            max_frames = None  # one frame whatever the limit: one cache entry
        elif max_frames is None:
            return ((index, _read_only(rgb)) for index, rgb in iter_frames_rgb(media.path, media.kind))
        key = (media.path, media.kind, max_frames)
        if key not in self._frames:
            decoded = iter_frames_rgb(media.path, media.kind, max_frames)
            self._frames[key] = tuple((index, _read_only(rgb)) for index, rgb in decoded)
        return iter(self._frames[key])

    def image(self, media: MediaInput) -> np.ndarray:
        """The image itself, or the first frame of a video or shot set, as in `frames`."""
        if media.kind is MediaKind.IMAGE:
            return next(self.frames(media))[1]
        key = (media.path, media.kind)
        if key not in self._first:
            self._first[key] = _read_only(read_frame_rgb(media.path, media.kind, 0.0))
        return self._first[key]

    def faces(self, media: MediaInput, max_frames: int = DEFAULT_MAX_FRAMES, *, eyes: bool = False) -> FaceTrack:
        """The media's face track: the faces of up to `max_frames` frames spread over it (an image
        is one frame), its best frame's face with quality, landmarks and embedding, and reasons
        (NO_FACE, MULTIPLE_FACES, FACE_TOO_SMALL).

        Computed once per media and model versions, whichever analysis asks first, and shared by
        every analysis of that media (on the appliance, across worker processes too): keep the
        default `max_frames` unless you need another sampling, which is a separate track. When
        this call computes the track, it decodes the frames through `frames(media, max_frames)`,
        which keeps them: ask for the track first and the frames after, and the media is decoded
        once (frames first works too, but another worker may then compute the track meanwhile,
        from a decoding of its own). `eyes=True` adds each face's eyelid contours
        (`TrackFrame.eyes`, for a blink): they cost about a quarter more per frame, and such a
        track is a separate one.
        """
        if self._vision is None:
            raise FaceModelsUnavailable(
                "this AnalysisContext has no face models: on the appliance they come from its model store; "
                "in tests, pass models=<model store directory> to appliance.sdk.testing.run_analyzer "
                "or set APPLIANCE_MODELS_ROOT"
            )
        return self._vision.face_track(media, max_frames, eyes=eyes, frames=lambda: self.frames(media, max_frames))

    @property
    def services(self) -> PluginServices:
        """The running plugin's `PluginServices` (its tables, files, cache directory): lent by the
        appliance's workers; raises PluginServicesUnavailable in the instant mode, which stores nothing."""
        if self._services is None:
            raise PluginServicesUnavailable(
                "this analysis runs without the appliance's storage (the instant mode, or a test that passed "
                "no services=): it cannot use the plugin's tables or files"
            )
        return self._services

    def models(self, task: str) -> list[ModelHandle]:
        """The active model of every store model whose card has `task` (e.g. `"presentation_attack"`),
        sorted by name: empty when the store has none, or the context has no model store."""
        runtime = getattr(self._vision, "runtime", None)
        store = getattr(runtime, "store", None)
        if runtime is None or store is None:
            return []
        found = []
        for name in store.names():
            try:
                card = store.card(name)
            except ModelNotFoundError:
                continue  # no active version
            if card.task != task:
                continue
            loaded = runtime.get(name)
            params = MappingProxyType(dict(loaded.card.params))  # read-only: the card is what it is
            found.append(ModelHandle(loaded.name, loaded.version, loaded.sha256, loaded.card.task, params, loaded))
        return found


def _read_only(rgb: np.ndarray) -> np.ndarray:
    rgb.flags.writeable = False
    return rgb
