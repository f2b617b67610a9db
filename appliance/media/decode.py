"""Pixels of stored media as RGB arrays, for analyzers (through the SDK) and for previews.

The files were validated when they were stored; a file that fails to decode now was damaged since,
and raises AppError MEDIA_CORRUPT.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media.archive import frame_entries
from appliance.media.imaging import PIL_FORMATS, to_rgb
from appliance.ops import metrics

__all__ = ["iter_frames_rgb", "load_image_rgb", "read_frame_rgb"]

_PIL_ALLOWED = list(PIL_FORMATS.values())


def load_image_rgb(path: Path) -> np.ndarray:
    """The image as an HxWx3 uint8 RGB array, upright (EXIF orientation applied)."""
    with path.open("rb") as fh:
        return _decode_image(fh, "the image")


def iter_frames_rgb(
    path: Path, kind: MediaKind, max_frames: int | None = None
) -> Generator[tuple[int, np.ndarray], None, None]:
    """(index, HxWx3 uint8 RGB frame) of any media kind, in order.

    An image is one frame. A video is decoded once, sequentially (seeking per frame is slow and
    inexact); with `max_frames` only that many frames, spread evenly across it, are kept. A shot
    set yields its images in natural name order, sampled the same way. `index` is the frame's
    position in the whole video or shot set. Each frame's decoding is timed (stage `decode`).
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, not {max_frames}")
    if kind is MediaKind.IMAGE:
        frames = _image_frame(path)
    elif kind is MediaKind.VIDEO:
        frames = _video_frames(path, max_frames)
    else:
        frames = _shot_frames(path, max_frames)
    return metrics.timed_items("decode", frames)


@metrics.timed("decode")
def read_frame_rgb(path: Path, kind: MediaKind, position: float = 0.0) -> np.ndarray:
    """One frame from `position` (0 = first, 1 = last) of the way through a video or shot set; the
    image itself for an image. A video whose frame count is unknown gives its first frame."""
    if not 0.0 <= position <= 1.0:
        raise ValueError(f"position must be within [0, 1], not {position}")
    if kind is MediaKind.IMAGE:
        return load_image_rgb(path)
    if kind is MediaKind.VIDEO:
        with _open_video(path) as capture:
            count = _frame_count(capture)
            if count:
                capture.set(cv2.CAP_PROP_POS_FRAMES, int(position * (count - 1)))
            ok, frame = capture.read()
            if not ok:
                raise AppError(ErrorCode.MEDIA_CORRUPT, "the video frame cannot be decoded")
            return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    with _open_zip(path) as archive:
        entries = frame_entries(archive)
        if not entries:
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the shot set holds no images")
        return _decode_entry(archive, entries[int(position * (len(entries) - 1))])


# Helpers ----------------------------------------------------------------------------------------


def _image_frame(path: Path) -> Generator[tuple[int, np.ndarray], None, None]:
    yield 0, load_image_rgb(path)


def _decode_image(fh: BinaryIO, label: str) -> np.ndarray:
    try:
        with Image.open(fh, formats=_PIL_ALLOWED) as img:
            return np.array(to_rgb(img), dtype=np.uint8)
    except UnidentifiedImageError as exc:  # its message would name the file's path
        raise AppError(ErrorCode.MEDIA_CORRUPT, f"{label} cannot be decoded: unreadable header") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise AppError(ErrorCode.MEDIA_CORRUPT, f"{label} cannot be decoded: {exc}") from exc


def _sample(count: int, max_frames: int | None) -> set[int] | None:
    """Indices of `max_frames` frames spread evenly over `count` (each in the middle of its share of
    the sequence), or None to keep them all."""
    if max_frames is None or count <= max_frames:
        return None
    return {int((i + 0.5) * count / max_frames) for i in range(max_frames)}


#: FFmpeg decoder threads per open video. H.264 frame threading spends more CPU in all than one
#: thread does (../shared/measurements.md, A2), and analysis workers are one process per core, so
#: extra threads would only contend with the other workers.
DECODER_THREADS = 1


@contextmanager
def _open_video(path: Path) -> Iterator[cv2.VideoCapture]:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, DECODER_THREADS])
    try:
        if not capture.isOpened():
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the video cannot be opened")
        yield capture
    finally:
        capture.release()


def _frame_count(capture: cv2.VideoCapture) -> int:
    """The container's frame count, or 0 when it does not know (a WebM without duration)."""
    count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    return int(count) if math.isfinite(count) and count >= 1 else 0


def _counted_by_decoding(path: Path) -> int:
    with _open_video(path) as capture:
        count = 0
        while capture.grab():
            count += 1
        return count


def _video_frames(path: Path, max_frames: int | None) -> Generator[tuple[int, np.ndarray], None, None]:
    with _open_video(path) as capture:
        count = _frame_count(capture) if max_frames is not None else 0
        if max_frames is not None and not count:  # the container does not say: count with a decoding pass
            count = _counted_by_decoding(path)
        wanted = _sample(count, max_frames)
        last = max(wanted) if wanted else None
        index = 0
        while capture.grab():
            if wanted is None or index in wanted:
                ok, frame = capture.retrieve()
                if not ok:
                    raise AppError(ErrorCode.MEDIA_CORRUPT, f"video frame {index} cannot be decoded")
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            if index == last:
                return
            index += 1


def _open_zip(path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise AppError(ErrorCode.MEDIA_CORRUPT, f"the shot set cannot be read: {exc}") from exc


def _decode_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    label = f"archive entry {info.filename!r}"
    try:
        data = archive.read(info)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise AppError(ErrorCode.MEDIA_CORRUPT, f"{label} cannot be read: {exc}") from exc
    return _decode_image(io.BytesIO(data), label)


def _shot_frames(path: Path, max_frames: int | None) -> Generator[tuple[int, np.ndarray], None, None]:
    with _open_zip(path) as archive:
        entries = frame_entries(archive)
        wanted = _sample(len(entries), max_frames)
        for index, info in enumerate(entries):
            if wanted is None or index in wanted:
                yield index, _decode_entry(archive, info)
