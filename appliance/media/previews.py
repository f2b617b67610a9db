"""Derived files shown to people: JPEG thumbnails, and an MP4 of a shot set's frames.

Each is written atomically (appliance.media.atomic), so a crash never leaves a half-written
preview where a reader would find it.
"""

from __future__ import annotations

import io
from contextlib import closing
from itertools import chain, islice
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media.atomic import atomic_target, write_atomically
from appliance.media.decode import iter_frames_rgb, read_frame_rgb
from appliance.media.imaging import PIL_FORMATS, POSTER_SEARCH_FRAMES, draft_for_side, first_bright, to_rgb

__all__ = ["THUMBNAIL_SIDE", "make_shots_preview", "make_thumbnail", "thumbnail_jpeg"]

#: The longer side of a thumbnail, in pixels.
THUMBNAIL_SIDE = 320
_JPEG_QUALITY = 85


def thumbnail_jpeg(picture: Image.Image, max_side: int = THUMBNAIL_SIDE) -> bytes:
    """`picture` scaled down to at most `max_side` pixels a side, as JPEG bytes."""
    scale = min(1.0, max_side / max(picture.size))
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    small = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0) if scale < 1 else picture
    buffer = io.BytesIO()
    small.save(buffer, format="JPEG", quality=_JPEG_QUALITY)
    return buffer.getvalue()


def make_thumbnail(path: Path, kind: MediaKind, dest: Path, max_side: int = THUMBNAIL_SIDE) -> None:
    """Write a JPEG of at most `max_side` pixels a side to `dest`: the upright image, a video's first
    bright frame (`imaging.first_bright`), or a shot set's first frame.

    An upload's thumbnail is made from its probe's picture (`probe_file(poster_side=...)`); this
    makes one from the stored file, for a shot set and for whatever has none.
    """
    if kind is MediaKind.IMAGE:
        with Image.open(path, formats=list(PIL_FORMATS.values())) as img:
            draft_for_side(img, max_side)
            picture = to_rgb(img)
    elif kind is MediaKind.VIDEO:
        with closing(iter_frames_rgb(path, kind)) as frames:
            rgb = first_bright(frame for _, frame in islice(frames, POSTER_SEARCH_FRAMES))
        if rgb is None:
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the video has no decodable frame")
        picture = Image.fromarray(rgb)
    else:
        picture = Image.fromarray(read_frame_rgb(path, kind))
    write_atomically(dest, thumbnail_jpeg(picture, max_side))


def make_shots_preview(zip_path: Path, dest_mp4: Path, fps: float = 10, max_side: int = 1280) -> None:
    """Write the frames of a shot set as an MPEG-4 Part 2 ('mp4v') MP4 video to `dest_mp4`.

    pip's OpenCV carries no H.264 encoder. Every frame is resized to the first frame's size
    (scaled down to `max_side`), with even sides as the encoder requires.
    """
    with closing(iter_frames_rgb(zip_path, MediaKind.SHOTS_SET)) as frames, atomic_target(dest_mp4) as tmp:
        first = next(frames, None)
        if first is None:
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the shot set holds no images")
        size = _even_size(first[1].shape[1], first[1].shape[0], max_side)
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter.fourcc(*"mp4v"), fps, size)
        try:
            if not writer.isOpened():
                raise OSError(f"OpenCV cannot write an mp4v video to {tmp}")
            for _, frame in chain([first], frames):
                writer.write(cv2.cvtColor(_fit(frame, size), cv2.COLOR_RGB2BGR))
        finally:
            writer.release()


def _even_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _fit(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    if (frame.shape[1], frame.shape[0]) == size:
        return frame
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
