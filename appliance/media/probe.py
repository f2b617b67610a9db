"""Full validation of a media file against the limits, and the facts the appliance records about it.

A file that passes has been decoded for real: all of an image's data (a JPEG at a reduced scale:
every coefficient is still read, so damage is still found), the first frame of a video (whose
packets are then read to the end, without decoding, to check that the file holds them all), every
frame of a shot set. Sizes are checked from headers before anything is decoded, so a
decompression bomb is refused before it can allocate.

Asked to (`poster_side`), the probe also keeps the picture a thumbnail is made of, from what it
decoded anyway: the upload's thumbnail then costs no second decoding.
"""

from __future__ import annotations

import io
import math
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import BinaryIO

import av
from PIL import Image, UnidentifiedImageError

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media.archive import frame_entries, unsafe_reason
from appliance.media.decode import Timeline, declared_frame_count, open_video, upright_rgb, upright_size
from appliance.media.imaging import (
    PIL_FORMATS,
    POSTER_SEARCH_FRAMES,
    draft_for_side,
    first_bright,
    oriented_size,
    to_rgb,
)
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
    #: With `probe_file(poster_side=...)`: the upright RGB picture a thumbnail is made of (an
    #: image, or a video's first bright frame, at least `poster_side` pixels on its longer side
    #: where the media is that large). None for a shot set, whose thumbnail comes with its preview.
    poster: Image.Image | None = field(default=None, repr=False, compare=False)


def probe_file(
    path: Path, limits: Limits, sniffed: Sniffed | None = None, *, poster_side: int | None = None
) -> ProbeResult:
    """Validate the file at `path` completely; raise AppError (MEDIA_*, ARCHIVE_*) when it fails.

    `sniffed` saves a second look at the header when the caller has already sniffed the file;
    `poster_side` keeps the thumbnail's picture (`ProbeResult.poster`).
    """
    check_file_size(path.stat().st_size, limits)
    sniffed = sniffed or sniff_file(path)
    if sniffed.kind is MediaKind.IMAGE:
        with path.open("rb") as fh:
            width, height, poster = _probe_image(fh, sniffed.mime_type, limits, poster_side)
        return ProbeResult(sniffed.kind, sniffed.mime_type, sniffed.extension, width, height, 1, poster=poster)
    if sniffed.kind is MediaKind.VIDEO:
        return _probe_video(path, sniffed, limits, poster_side)
    return _probe_shots(path, sniffed, limits)


def check_file_size(size: int, limits: Limits) -> None:
    if size == 0:
        raise AppError(ErrorCode.MEDIA_EMPTY, "the file is empty")
    if size > limits.max_file_bytes:
        raise AppError(
            ErrorCode.MEDIA_TOO_LARGE, f"the file is {size} bytes, more than the limit of {limits.max_file_bytes}"
        )


# Images -----------------------------------------------------------------------------------------


def _probe_image(
    fh: BinaryIO, mime_type: str, limits: Limits, poster_side: int | None
) -> tuple[int, int, Image.Image | None]:
    """Decode the whole image; return its upright (width, height), and the poster if asked for."""
    try:
        with Image.open(fh, formats=[PIL_FORMATS[mime_type]]) as img:
            _check_pixels(img.width, img.height, limits)
            width, height = oriented_size(img)
            draft_for_side(img, poster_side or 1)  # every coefficient is still read
            img.load()
            return width, height, to_rgb(img) if poster_side else None
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


def _probe_video(path: Path, sniffed: Sniffed, limits: Limits, poster_side: int | None) -> ProbeResult:
    """One pass over the video's packets: the first frame decoded (and, for a thumbnail, the few
    after it a dark start needs), the rest only read, for their timestamps."""
    with open_video(path) as (container, stream):
        codec = stream.codec_context
        _check_pixels(codec.width, codec.height, limits)  # from the header, before a frame is decoded
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        if not (math.isfinite(fps) and fps > 0):
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the video has no frame rate")
        declared = declared_frame_count(container, stream)
        if declared is not None:
            _check_duration(declared, fps, limits)
        packets = _PacketTimes(Timeline(stream), fps, limits)
        try:
            frames = (frame for packet in packets.read(container.demux(stream)) for frame in codec.decode(packet))
            first = next(frames, None)
            if first is None:
                raise AppError(ErrorCode.MEDIA_CORRUPT, "the video has no decodable frame")
            width, height = upright_size(first)
            _check_pixels(width, height, limits)
            poster = _poster(first, frames, poster_side) if poster_side else None
            frames.close()
            for _ in packets.read(container.demux(stream)):  # the rest, not decoded
                pass
        except av.FFmpegError as exc:
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the video cannot be read (damaged or truncated)") from exc
    if declared is None:  # no count stated (a browser's MediaRecorder WebM): the last frame's time gives it
        frame_count = packets.last_index + 1
    else:
        frame_count = declared
        _check_end(packets.last_index, frame_count)
    return ProbeResult(
        sniffed.kind, sniffed.mime_type, sniffed.extension, width, height, frame_count, frame_count / fps, fps, poster
    )


class _PacketTimes:
    """The latest frame index whose data the file holds, from the timestamps of the packets read.

    Packets are read, not decoded, past what the probe decodes: a few milliseconds where decoding
    the whole video would cost hundreds on every upload. A frame whose data is there but damaged
    is found when an analysis decodes it (MEDIA_CORRUPT then). A video longer than the limit is
    refused as soon as a packet says so.
    """

    def __init__(self, timeline: Timeline, fps: float, limits: Limits) -> None:
        self._timeline, self._fps, self._limits = timeline, fps, limits
        self.last_index = 0

    def read(self, packets: Iterator[av.Packet]) -> Iterator[av.Packet]:
        for packet in packets:
            index = self._timeline.index(packet.pts) if packet.size else None
            if index is not None and index > self.last_index:
                self.last_index = index
                _check_duration(index + 1, self._fps, self._limits)
            yield packet


def _poster(first: av.VideoFrame, following: Iterator[av.VideoFrame], side: int) -> Image.Image:
    """The first bright frame (`imaging.first_bright`: the first frame, unless it is dark), scaled
    down by a whole factor to no less than `side` pixels on its longer side."""
    shrink = max(1, max(first.width, first.height) // side)
    candidates = chain([first], islice(following, POSTER_SEARCH_FRAMES - 1))
    rgb = first_bright(upright_rgb(frame, shrink) for frame in candidates)
    assert rgb is not None  # `first` is one
    return Image.fromarray(rgb)


def _check_duration(frame_count: int, fps: float, limits: Limits) -> None:
    if frame_count / fps > limits.max_video_seconds:
        raise AppError(
            ErrorCode.MEDIA_TOO_LONG,
            f"the video lasts {frame_count / fps:.1f} s, more than the limit of {limits.max_video_seconds:g} s",
        )


def _check_end(last_index: int, frame_count: int) -> None:
    """Check that the file holds the data of the video's last frame, so that a truncated file
    fails here and not in an analysis (a few frames short is allowed: see `_END_SLACK_FRACTION`)."""
    if last_index < frame_count - 1 - int(frame_count * _END_SLACK_FRACTION):
        raise AppError(
            ErrorCode.MEDIA_CORRUPT,
            f"the video ends at frame {last_index + 1} of {frame_count} (truncated or damaged)",
        )


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
        width, height, _ = _probe_image(io.BytesIO(data), sniffed.mime_type, limits, None)
        return width, height
    except AppError as exc:
        raise AppError(exc.code, f"archive entry {name!r}: {exc.message}", exc.details) from exc
