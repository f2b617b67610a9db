"""What an analyzer gets besides its request: the site's thresholds and decoded media."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from appliance.domain.enums import MediaKind
from appliance.media.decode import iter_frames_rgb, read_frame_rgb
from appliance.sdk.types import MediaInput

__all__ = ["AnalysisContext"]

_Frame = tuple[int, np.ndarray]


class AnalysisContext:
    """Passed to `analyze(request, ctx)`. One context serves one analysis.

    Decoded frames are kept for the life of the context, so two calls for the same media (and
    the same `max_frames`) decode once. Frames are shared, hence read-only: copy one before
    changing it in place. All the frames of a video (`max_frames=None`) could outgrow memory,
    so those are decoded as they are read and not kept.
    """

    def __init__(self, thresholds: Mapping[str, float] | None = None) -> None:
        #: The site's decision thresholds (`liveness`, `biometry`, `collection`), as in the request.
        self.thresholds: dict[str, float] = dict(thresholds or {})
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


def _read_only(rgb: np.ndarray) -> np.ndarray:
    rgb.flags.writeable = False
    return rgb
