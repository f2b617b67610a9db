"""The demo's sample media, made on the spot: a selfie photo and a short selfie video of one face.

The photo is the astronaut Eileen Collins (NASA, public domain: the picture scikit-image ships as
`astronaut`), 384 pixels square, carried in `samples/selfie.jpg`. The video is made from it: 3 s
at 15 frames a second, the face turning and coming closer, H.264 in MP4 (PyAV). Neither is live
in any sense: they show what the analyses answer, not how well they decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import av
import cv2
import numpy as np

__all__ = ["SampleMedia", "write_samples"]

_SELFIE = files("appliance.cli") / "samples" / "selfie.jpg"
_VIDEO_SECONDS = 3
_VIDEO_FPS = 15


@dataclass(frozen=True, slots=True)
class SampleMedia:
    path: Path
    tags: list[str]


def _turned(rgb: np.ndarray, t: float) -> np.ndarray:
    """The photo turned by up to 10 degrees and zoomed by up to 30 % as `t` goes from 0 to 1."""
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 10 * t, 1 + 0.3 * t)
    return cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


def _write_video(rgb: np.ndarray, path: Path) -> None:
    frames = _VIDEO_SECONDS * _VIDEO_FPS
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=_VIDEO_FPS)
        stream.height, stream.width = rgb.shape[:2]
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(_turned(rgb, i / (frames - 1)), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


def write_samples(directory: Path) -> list[SampleMedia]:
    """`selfie.jpg` and `clip.mp4` in `directory`, with the tags an integrator would give them."""
    directory.mkdir(parents=True, exist_ok=True)
    photo = directory / "selfie.jpg"
    photo.write_bytes(_SELFIE.read_bytes())
    bgr = cv2.imdecode(np.frombuffer(photo.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None, "the packaged sample photo is a JPEG"
    clip = directory / "clip.mp4"
    _write_video(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), clip)
    return [SampleMedia(photo, ["photo_selfie"]), SampleMedia(clip, ["video_selfie"])]
