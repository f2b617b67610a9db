"""The best shot of a media: the sampled frame with the best face for a person or a face matcher.

Each sampled frame with a face gets a score in 0..1, the product of:

- sharpness: the variance of the Laplacian of the face's luma, relative to the track's sharpest
  face (the track's own numbers, so a soft camera does not zero every frame);
- pose: cos(yaw)^2 x cos(pitch)^2, yaw from the FaceMesh nose offset (see gestures.py) and pitch
  from the detector's keypoints (0 for a frontal face, so a frontal face scores 1);
- eyes open: the frame's eye aspect ratio over the track's open-eye baseline (90th percentile),
  capped at 1;
- size: the face's width relative to the track's widest face;
- exposure: 1 - |mean face luma - 128| / 128 (1 for mid-grey, 0 for black or white);
- the detector's score and the FaceMesh presence.

A frame with a quality reason (several faces, a face too small) scores half. The best frame's face
with a margin of `margin` x the face box's side on each side is cut out and JPEG-encoded: that is
the `best_shot` output image. It is a photo of one face, upright, larger than the detector needs,
so an integrator can upload it as a `photo_selfie` for BIOMETRY (see docs/liveness.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from appliance.sdk import FaceTrack, OutputImage

from .gestures import measure_points, openness

__all__ = ["BEST_SHOT_NAME", "BestShot", "best_shot", "choose_best_frame", "face_crop_jpeg"]

#: The output image's name.
BEST_SHOT_NAME = "best_shot"


@dataclass(frozen=True, slots=True)
class BestShot:
    """The chosen frame, why, and (once the pixels were given) its JPEG."""

    #: Position in the track's frames, and the frame's index in the media.
    position: int
    index: int
    score: float
    #: The factors of the score (see the module's docstring).
    components: dict[str, float]
    #: The face box (x0, y0, x1, y1) in the frame's pixels.
    box: tuple[float, float, float, float]
    jpeg: bytes | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the JPEG."""
        return {
            "frame_index": self.index,
            "score": round(self.score, 4),
            "components": {k: round(v, 4) for k, v in self.components.items()},
            "box": [round(float(v), 1) for v in self.box],
        }

    def output_image(self) -> OutputImage:
        if self.jpeg is None:
            raise ValueError("the best shot has no JPEG: call best_shot with the frames")
        return OutputImage(name=BEST_SHOT_NAME, jpeg=self.jpeg)


def choose_best_frame(track: FaceTrack) -> BestShot | None:
    """The best frame of the track (without its JPEG), or None when no frame has a face."""
    candidates = [
        (position, frame)
        for position, frame in enumerate(track.frames)
        if frame.face is not None and frame.quality is not None
    ]
    if not candidates:
        return None
    sharpest = max(f.quality.sharpness for _, f in candidates if f.quality) or 1.0
    widest = max(f.quality.width_px for _, f in candidates if f.quality) or 1.0
    eyes: dict[int, float] = {}
    yaws: dict[int, float] = {}
    for position, frame in candidates:
        if frame.landmarks is not None and frame.landmarks.presence >= 0.5:
            yaws[position] = measure_points(frame.landmarks.points)[0]
            both = openness(frame)
            if both is not None:
                eyes[position] = min(both)
    open_eyes = float(np.percentile(list(eyes.values()), 90)) if eyes else 0.0
    best: BestShot | None = None
    for position, frame in candidates:
        quality, face = frame.quality, frame.face
        assert quality is not None and face is not None
        yaw = yaws.get(position, quality.yaw)
        pitch = quality.pitch
        presence = frame.landmarks.presence if frame.landmarks is not None else 0.5
        components = {
            "sharpness": min(1.0, quality.sharpness / sharpest),
            "pose": math.cos(math.radians(min(abs(yaw), 90.0))) ** 2
            * math.cos(math.radians(min(abs(pitch), 90.0))) ** 2,
            "eyes_open": min(1.0, eyes[position] / open_eyes) if position in eyes and open_eyes > 0 else 0.5,
            "size": min(1.0, quality.width_px / widest),
            "exposure": max(0.0, 1.0 - abs(quality.brightness - 128.0) / 128.0),
            "detection": float(quality.score),
            "presence": float(presence),
        }
        score = float(np.prod(list(components.values())))
        if frame.reasons:
            score *= 0.5
        if best is None or score > best.score:
            x0, y0, x1, y1 = (float(v) for v in face.box)
            best = BestShot(position, frame.index, score, components, (x0, y0, x1, y1))
    return best


def face_crop_jpeg(
    rgb: np.ndarray, box: tuple[float, float, float, float], margin: float = 0.6, quality: int = 92
) -> bytes:
    """JPEG bytes of the face `box` with `margin` x the box's longer side added on each side (clipped
    to the frame); the whole frame when `margin` is negative."""
    if margin >= 0:
        height, width = rgb.shape[:2]
        x0, y0, x1, y1 = box
        pad = max(x1 - x0, y1 - y0) * margin
        left, top = max(0, math.floor(x0 - pad)), max(0, math.floor(y0 - pad))
        right, bottom = min(width, math.ceil(x1 + pad)), min(height, math.ceil(y1 + pad))
        rgb = rgb[top:bottom, left:right]
    ok, encoded = cv2.imencode(
        ".jpg", cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise ValueError("could not encode the best shot")
    return encoded.tobytes()


def best_shot(
    track: FaceTrack,
    frames: Iterable[tuple[int, np.ndarray]] | Mapping[int, np.ndarray],
    margin: float = 0.6,
    quality: int = 92,
) -> BestShot | None:
    """The best frame of `track` with its JPEG, cut from `frames`: the `(frame_index, rgb)` pairs
    the track was computed from, e.g. `ctx.frames(media, max_frames=track.max_frames)` (an image's
    one frame for a photo). None when no frame has a face, or its pixels are not among `frames`."""
    chosen = choose_best_frame(track)
    if chosen is None:
        return None
    pairs = frames.items() if isinstance(frames, Mapping) else frames
    rgb = next((pixels for index, pixels in pairs if index == chosen.index), None)
    if rgb is None:
        return None
    return BestShot(
        chosen.position,
        chosen.index,
        chosen.score,
        chosen.components,
        chosen.box,
        face_crop_jpeg(rgb, chosen.box, margin, quality),
    )
