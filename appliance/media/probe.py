"""Full validation of a media file against the limits, and the facts the appliance records about it.

A file that passes has been decoded for real: every pixel of an image, the first and the last frame
of a video, every frame of a shot set. Sizes are checked from headers before anything is decoded,
so a decompression bomb is refused before it can allocate.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
from PIL import Image, UnidentifiedImageError

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media.archive import frame_entries, unsafe_reason
from appliance.media.imaging import PIL_FORMATS, oriented_size
from appliance.media.sniff import SNIFF_BYTES, Sniffed, identify, sniff_file
from appliance.ops.settings import Limits

__all__ = ["ProbeResult", "check_file_size", "probe_file"]

#: An entry that inflates more than this many times (and to more than `_BOMB_MIN_BYTES`) is taken
#: for a ZIP bomb: JPEG, PNG and WebP data barely compresses, so real frames stay far below it.
_MAX_COMPRESSION_RATIO = 100
_BOMB_MIN_BYTES = 1024 * 1024
_ZIP_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED})
#: A frame count estimated from duration and frame rate (WebM, MKV) can overshoot by a few frames;
#: when the last frame is missing the end check settles for one this fraction of the video before it.
_END_SLACK_FRACTION = 0.05


@dataclass(frozen=True, slots=True)
class ProbeResult:
    kind: MediaKind
    mime_type: str
    #: Canonical extension, without the dot.
    extension: str
    #: Of an image after EXIF orientation, of a video's frames, of a shot set's first frame.
    width: int
    height: int
    #: 1 for an image.
    frame_count: int
    #: Videos only.
    duration_seconds: float | None = None
    fps: float | None = None


def probe_file(path: Path, limits: Limits, sniffed: Sniffed | None = None) -> ProbeResult:
    """Validate the file at `path` completely; raise AppError (MEDIA_*, ARCHIVE_*) when it fails.

    `sniffed` saves a second look at the header when the caller has already sniffed the file.
    """
    check_file_size(path.stat().st_size, limits)
    sniffed = sniffed or sniff_file(path)
    if sniffed.kind is MediaKind.IMAGE:
        with path.open("rb") as fh:
            width, height = _image_size(fh, sniffed.mime_type, limits)
        return ProbeResult(sniffed.kind, sniffed.mime_type, sniffed.extension, width, height, 1)
    if sniffed.kind is MediaKind.VIDEO:
        return _probe_video(path, sniffed, limits)
    return _probe_shots(path, sniffed, limits)


def check_file_size(size: int, limits: Limits) -> None:
    if size == 0:
        raise AppError(ErrorCode.MEDIA_EMPTY, "the file is empty")
    if size > limits.max_file_bytes:
        raise AppError(
            ErrorCode.MEDIA_TOO_LARGE, f"the file is {size} bytes, more than the limit of {limits.max_file_bytes}"
        )


# Images -----------------------------------------------------------------------------------------


def _image_size(fh: BinaryIO, mime_type: str, limits: Limits) -> tuple[int, int]:
    """Decode the whole image; return its upright (width, height)."""
    try:
        with Image.open(fh, formats=[PIL_FORMATS[mime_type]]) as img:
            _check_pixels(img.width, img.height, limits)
            img.load()
            return oriented_size(img)
    except Image.DecompressionBombError as exc:  # Pillow's own guard, far above any sane limit
        raise AppError(ErrorCode.MEDIA_TOO_MANY_PIXELS, f"the image is too large: {exc}") from exc
    except UnidentifiedImageError as exc:  # its message would name the file's path
        raise AppError(ErrorCode.MEDIA_CORRUPT, "the image cannot be decoded: unreadable header") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise AppError(ErrorCode.MEDIA_CORRUPT, f"the image cannot be decoded: {exc}") from exc


def _check_pixels(width: int, height: int, limits: Limits) -> None:
    if width * height > limits.max_image_pixels:
        raise AppError(
            ErrorCode.MEDIA_TOO_MANY_PIXELS,
            f"{width}x{height} is {width * height} pixels, more than the limit of {limits.max_image_pixels}",
        )


# Videos -----------------------------------------------------------------------------------------


def _probe_video(path: Path, sniffed: Sniffed, limits: Limits) -> ProbeResult:
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the video cannot be opened (damaged or truncated)")
        _check_pixels(int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)), limits)
        fps = capture.get(cv2.CAP_PROP_FPS)
        if not (math.isfinite(fps) and fps > 0):
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the video has no frame rate")
        ok, first = capture.read()
        if not ok:
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the video has no decodable frame")
        height, width = first.shape[:2]  # after the rotation OpenCV applies from the metadata
        _check_pixels(width, height, limits)
        declared = capture.get(cv2.CAP_PROP_FRAME_COUNT)
        if math.isfinite(declared) and declared >= 1:
            frame_count = int(declared)
            _check_duration(frame_count, fps, limits)
            _check_end(capture, frame_count)
        else:  # no index (e.g. a browser's MediaRecorder WebM): count by decoding, which also reaches the end
            frame_count = _count_frames(capture, fps, limits)
    finally:
        capture.release()
    return ProbeResult(
        sniffed.kind, sniffed.mime_type, sniffed.extension, width, height, frame_count, frame_count / fps, fps
    )


def _check_duration(frame_count: int, fps: float, limits: Limits) -> None:
    if frame_count / fps > limits.max_video_seconds:
        raise AppError(
            ErrorCode.MEDIA_TOO_LONG,
            f"the video lasts {frame_count / fps:.1f} s, more than the limit of {limits.max_video_seconds:g} s",
        )


def _check_end(capture: cv2.VideoCapture, frame_count: int) -> None:
    """Seek to the last frame and decode it, so that a truncated file fails here and not later."""
    last = frame_count - 1
    for index in sorted({last, last - int(frame_count * _END_SLACK_FRACTION)}, reverse=True):
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        if capture.read()[0]:
            return
    raise AppError(ErrorCode.MEDIA_CORRUPT, "the end of the video cannot be decoded (truncated or damaged)")


def _count_frames(capture: cv2.VideoCapture, fps: float, limits: Limits) -> int:
    count = 1  # the first frame, already read
    while capture.grab():
        count += 1
        _check_duration(count, fps, limits)
    return count


# Shot sets --------------------------------------------------------------------------------------


def _probe_shots(path: Path, sniffed: Sniffed, limits: Limits) -> ProbeResult:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise AppError(ErrorCode.MEDIA_CORRUPT, f"the ZIP archive cannot be read: {exc}") from exc
    with archive:
        _check_entries(archive.infolist(), limits)
        frames = frame_entries(archive)
        if not frames:
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the ZIP archive holds no images")
        budget = limits.max_archive_bytes
        sizes: list[tuple[int, int]] = []
        for info in frames:
            data = _read_entry(archive, info, limits.max_file_bytes)
            budget -= len(data)
            if budget < 0:
                raise AppError(ErrorCode.ARCHIVE_TOO_LARGE, "the ZIP archive inflates beyond its size limit")
            sizes.append(_entry_image_size(info.filename, data, limits))
    return ProbeResult(sniffed.kind, sniffed.mime_type, sniffed.extension, *sizes[0], len(frames))


def _check_entries(infos: list[zipfile.ZipInfo], limits: Limits) -> None:
    """Everything the central directory alone can tell: counts, names, declared sizes."""
    if len(infos) > limits.max_archive_entries:
        raise AppError(
            ErrorCode.ARCHIVE_TOO_MANY_ENTRIES,
            f"the ZIP archive has {len(infos)} entries, more than the limit of {limits.max_archive_entries}",
        )
    names: set[str] = set()
    for info in infos:
        reason = unsafe_reason(info)
        if reason is None and info.filename in names:
            reason = "appears twice"
        if reason is not None:
            raise AppError(ErrorCode.ARCHIVE_UNSAFE_ENTRY, f"archive entry {info.filename!r} {reason}")
        names.add(info.filename)
    declared = sum(info.file_size for info in infos)
    if declared > limits.max_archive_bytes:
        raise AppError(
            ErrorCode.ARCHIVE_TOO_LARGE,
            f"the ZIP archive inflates to {declared} bytes, more than the limit of {limits.max_archive_bytes}",
        )
    for info in infos:
        if info.file_size > _BOMB_MIN_BYTES and info.file_size > _MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise AppError(
                ErrorCode.ARCHIVE_TOO_LARGE,
                f"archive entry {info.filename!r} is compressed {info.file_size // max(info.compress_size, 1)}"
                " times: refused as a ZIP bomb",
            )


def _read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, max_bytes: int) -> bytes:
    """The entry's bytes, reading at most `max_bytes` whatever its header declares."""
    if info.flag_bits & 0x1:
        raise AppError(ErrorCode.MEDIA_UNSUPPORTED_TYPE, f"archive entry {info.filename!r} is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        raise AppError(
            ErrorCode.MEDIA_UNSUPPORTED_TYPE,
            f"archive entry {info.filename!r} uses compression method {info.compress_type}; only stored"
            " and deflated entries are supported",
        )
    try:
        with archive.open(info) as fh:
            data = fh.read(max_bytes + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise AppError(ErrorCode.MEDIA_CORRUPT, f"archive entry {info.filename!r} cannot be read: {exc}") from exc
    if len(data) > max_bytes:
        raise AppError(
            ErrorCode.ARCHIVE_TOO_LARGE,
            f"archive entry {info.filename!r} is larger than the single-file limit of {max_bytes} bytes",
        )
    return data


def _entry_image_size(name: str, data: bytes, limits: Limits) -> tuple[int, int]:
    if not data:
        raise AppError(ErrorCode.MEDIA_EMPTY, f"archive entry {name!r} is empty")
    sniffed = identify(data[:SNIFF_BYTES])
    if sniffed is None or sniffed.kind is not MediaKind.IMAGE:
        raise AppError(
            ErrorCode.MEDIA_UNSUPPORTED_TYPE,
            f"archive entry {name!r} is not a JPEG, PNG or WebP image: a shot set holds images only",
        )
    try:
        return _image_size(io.BytesIO(data), sniffed.mime_type, limits)
    except AppError as exc:
        raise AppError(exc.code, f"archive entry {name!r}: {exc.message}", exc.details) from exc
