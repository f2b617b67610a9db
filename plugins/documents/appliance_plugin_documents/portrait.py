"""The document's portrait: the largest face of the photo, from the media's shared face track.

The face track (`ctx.faces`) is computed once per media and shared by every analysis of it, and
its primary face is the largest one: on an ID's photo side, the printed portrait (a ghost image
or a face in a hologram is smaller). BIOMETRY compares that same face, so the portrait DOCUMENTS
shows is the face BIOMETRY matched.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from appliance.sdk import FaceReason, FaceTrack

__all__ = ["Portrait", "find_portrait"]

#: The crop around the face box, in face widths (sides) and heights (above, below): head and shoulders.
SIDE_MARGIN = 0.35
TOP_MARGIN = 0.6
BOTTOM_MARGIN = 0.5
JPEG_QUALITY = 90


@dataclass(frozen=True, slots=True)
class Portrait:
    #: The face box (x0, y0, x1, y1) in the photo's pixels.
    face_box: tuple[float, float, float, float]
    #: The cropped portrait, JPEG.
    jpeg: bytes


def find_portrait(track: FaceTrack, rgb: np.ndarray) -> Portrait | None:
    """The portrait of the photo `rgb` whose face track is `track`, or None when it has no face."""
    face = track.face
    if face is None or FaceReason.NO_FACE in track.reasons:
        return None
    x0, y0, x1, y1 = face.box
    w, h = x1 - x0, y1 - y0
    height, width = rgb.shape[:2]
    left, right = max(0, int(x0 - SIDE_MARGIN * w)), min(width, int(x1 + SIDE_MARGIN * w))
    top, bottom = max(0, int(y0 - TOP_MARGIN * h)), min(height, int(y1 + BOTTOM_MARGIN * h))
    crop = np.ascontiguousarray(rgb[top:bottom, left:right])
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError("could not encode the portrait")
    return Portrait((float(x0), float(y0), float(x1), float(y1)), encoded.tobytes())
