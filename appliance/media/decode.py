"""Pixels of stored media as RGB arrays, for analyzers (through the SDK) and for previews.

The files were validated when they were stored; a file that fails to decode now was damaged since,
and raises AppError MEDIA_CORRUPT.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media.archive import frame_entries
from appliance.media.imaging import PIL_FORMATS, to_rgb
from appliance.ops import metrics

__all__ = [
    "Timeline",
    "declared_frame_count",
    "iter_frames_rgb",
    "load_image_rgb",
    "open_video",
    "read_frame_rgb",
    "upright_rgb",
    "upright_size",
]

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
    image itself for an image."""
    if not 0.0 <= position <= 1.0:
        raise ValueError(f"position must be within [0, 1], not {position}")
    if kind is MediaKind.IMAGE:
        return load_image_rgb(path)
    if kind is MediaKind.VIDEO:
        return _video_frame_at(path, position)
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
def open_video(path: Path) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    try:
        # FFmpeg's stream probe decodes the first frame only to learn its pixel format, which the
        # decoding here finds out anyway: skipped, the open costs about 1 ms instead of 7 (720p H.264)
        container = av.open(str(path), mode="r", options={"skip_frame": "all"})
    except (av.FFmpegError, OSError) as exc:
        raise AppError(ErrorCode.MEDIA_CORRUPT, "the video cannot be opened") from exc
    try:
        if not container.streams.video:
            raise AppError(ErrorCode.MEDIA_CORRUPT, "the file holds no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        stream.codec_context.thread_count = DECODER_THREADS
        stream.codec_context.skip_frame = "DEFAULT"
        yield container, stream
    finally:
        container.close()


def declared_frame_count(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    """The frame count the container states, else one estimated from its duration; None where it
    states neither (a MediaRecorder WebM). An estimate may overshoot by a few frames."""
    if stream.frames:
        return int(stream.frames)
    rate = stream.average_rate
    if rate and stream.duration and stream.time_base:
        return max(1, round(float(stream.duration * stream.time_base * rate)))
    if rate and container.duration:  # in microseconds
        return max(1, round(float(container.duration * rate) / 1_000_000))
    return None


def _frame_count(path: Path, container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """The container's frame count, else one estimated from its duration, else the packets counted."""
    declared = declared_frame_count(container, stream)
    if declared is not None:
        return declared
    with open_video(path) as (again, counted):  # demux, no decoding
        return sum(1 for packet in again.demux(counted) if packet.size)


class Timeline:
    """Frame indices from presentation timestamps: `round(time x average frame rate)`.

    A constant-rate video gets the indices a sequential count would; a variable-rate one (a
    phone's) gets indices on a time line, so that a sampling spreads over time, not over frames.
    """

    def __init__(self, stream: av.VideoStream) -> None:
        rate = stream.average_rate or stream.guessed_rate or 30
        self._frames_per_tick = float(stream.time_base * rate) if stream.time_base else None
        self._start = stream.start_time or 0

    def index(self, pts: int | None) -> int | None:
        if pts is None or self._frames_per_tick is None:
            return None
        return round((pts - self._start) * self._frames_per_tick)


def upright_rgb(frame: av.VideoFrame, shrink: int = 1) -> np.ndarray:
    """The frame as RGB, turned as the video's display matrix says (as a player shows it), its
    sides divided by `shrink` (area averaging) for a picture smaller than the video."""
    if shrink == 1:
        rgb = frame.to_ndarray(format="rgb24")
    else:
        small = (max(1, frame.width // shrink), max(1, frame.height // shrink))
        rgb = frame.to_ndarray(format="rgb24", width=small[0], height=small[1], interpolation="AREA")
    quarter_turns = round(frame.rotation / 90) % 4  # PyAV: counter-clockwise degrees, np.rot90's sense
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def upright_size(frame: av.VideoFrame) -> tuple[int, int]:
    """(width, height) of the frame as it is shown, after the display matrix's turn."""
    return (frame.height, frame.width) if round(frame.rotation / 90) % 2 else (frame.width, frame.height)


def _decoded(
    container: av.container.InputContainer, stream: av.VideoStream, wanted: list[int] | None
) -> Iterator[tuple[int, av.VideoFrame]]:
    """(index, frame) in presentation order: every frame, or one for each of the sorted `wanted`
    indices (that frame, or the next one decoded where a variable frame rate left a gap).

    With `wanted`, a frame that is neither wanted nor a reference for others is not decoded at
    all (FFmpeg's skip_frame NONREF): a sampling of a 5 s video then decodes about half of it.
    """
    timeline = Timeline(stream)
    targets = set(wanted or ())
    previous = -1
    position = 0  # in `wanted`
    codec = stream.codec_context
    try:
        for packet in container.demux(stream):
            if wanted is not None:
                codec.skip_frame = "DEFAULT" if timeline.index(packet.pts) in targets else "NONREF"
            for frame in codec.decode(packet):
                stamped = timeline.index(frame.pts)
                index = previous + 1 if stamped is None else max(stamped, previous + 1)
                previous = index
                if wanted is None:
                    yield index, frame
                    continue
                if index < wanted[position]:
                    continue
                yield index, frame
                while position < len(wanted) and wanted[position] <= index:
                    position += 1
                if position == len(wanted):
                    return
    except av.FFmpegError as exc:
        raise AppError(ErrorCode.MEDIA_CORRUPT, f"the video cannot be decoded past frame {previous}") from exc


def _video_frames(path: Path, max_frames: int | None) -> Generator[tuple[int, np.ndarray], None, None]:
    with open_video(path) as (container, stream):
        wanted = _sample(_frame_count(path, container, stream), max_frames) if max_frames is not None else None
        for index, frame in _decoded(container, stream, sorted(wanted) if wanted is not None else None):
            yield index, upright_rgb(frame)


def _video_frame_at(path: Path, position: float) -> np.ndarray:
    with open_video(path) as (container, stream):
        target = int(position * (_frame_count(path, container, stream) - 1))
        for _, frame in _decoded(container, stream, [target]):
            return upright_rgb(frame)
    raise AppError(ErrorCode.MEDIA_CORRUPT, "the video frame cannot be decoded")


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
