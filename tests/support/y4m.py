"""Raw YUV4MPEG2 video (`.y4m`): what Chromium's fake camera plays
(`--use-file-for-fake-video-capture=FILE.y4m`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np

__all__ = ["write_y4m"]


def write_y4m(path: Path, frames: Iterable[np.ndarray], fps: int) -> Path:
    """Write RGB uint8 frames (all of one even width and height) as 4:2:0 YUV4MPEG2 at `fps`."""
    with path.open("wb") as out:
        header_written = False
        for rgb in frames:
            height, width = rgb.shape[:2]
            if not header_written:
                out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
                header_written = True
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420).tobytes())
    return path
