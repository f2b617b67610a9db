"""Real sample media for tests, built from the astronaut photo scikit-image ships.

Nothing is downloaded or shared: each builder writes its files into the directory it is given and
returns their paths, so any test can build exactly what it needs in its own tmp directory.

- `build_valid_samples(dir)`: files every part of the appliance must accept, with `VALID_FACTS`
  saying what probing each must report.
- `build_malformed_samples(dir)`: files that must be refused, each with the `ErrorCode` the
  refusal must carry under the default `Limits()`.
"""

from __future__ import annotations

import functools
import io
import stat
import struct
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data as skdata

from appliance.domain.enums import MediaKind
from appliance.domain.errors import ErrorCode
from appliance.ops.settings import Limits

__all__ = [
    "ASTRONAUT_FACE",
    "SHOT_COUNT",
    "VALID_FACTS",
    "VIDEO_FPS",
    "VIDEO_FRAMES",
    "VIDEO_SIDE",
    "WEBM_SIDE",
    "SampleFacts",
    "astronaut_rgb",
    "build_malformed_samples",
    "build_valid_samples",
    "jpeg_bytes",
    "write_video",
]

VIDEO_SIDE = 320
#: The WebM samples are smaller: VP8 encodes several times slower than the other codecs.
WEBM_SIDE = 160
VIDEO_FPS = 15
VIDEO_FRAMES = 45  # 3 seconds
SHOT_COUNT = 12  # more than 9, so natural order (2 before 10) differs from plain string order
_EXIF_ORIENTATION = 0x0112
#: A ZIP entry to write: its name (or a ZipInfo, for special attributes) and its content.
_Entry = tuple[str | zipfile.ZipInfo, bytes]


@dataclass(frozen=True, slots=True)
class SampleFacts:
    """What probing a valid sample must report."""

    kind: MediaKind
    mime_type: str
    extension: str
    width: int
    height: int
    frame_count: int


def _shot_side(index: int) -> int:
    """Side of shot `index` (1-based): each is larger than the one before, so their order shows."""
    return 120 + 8 * index


VALID_FACTS: dict[str, SampleFacts] = {
    "jpeg": SampleFacts(MediaKind.IMAGE, "image/jpeg", "jpg", 512, 512, 1),
    "png": SampleFacts(MediaKind.IMAGE, "image/png", "png", 512, 512, 1),
    "webp": SampleFacts(MediaKind.IMAGE, "image/webp", "webp", 512, 512, 1),
    "rgba_png": SampleFacts(MediaKind.IMAGE, "image/png", "png", 512, 512, 1),
    "grey_png": SampleFacts(MediaKind.IMAGE, "image/png", "png", 512, 512, 1),
    "palette_png": SampleFacts(MediaKind.IMAGE, "image/png", "png", 512, 512, 1),
    # stored 512 wide x 384 high with EXIF Orientation=6 (rotate 90 degrees clockwise to view)
    "exif_rotated_jpeg": SampleFacts(MediaKind.IMAGE, "image/jpeg", "jpg", 384, 512, 1),
    "mp4": SampleFacts(MediaKind.VIDEO, "video/mp4", "mp4", VIDEO_SIDE, VIDEO_SIDE, VIDEO_FRAMES),
    "mov": SampleFacts(MediaKind.VIDEO, "video/quicktime", "mov", VIDEO_SIDE, VIDEO_SIDE, VIDEO_FRAMES),
    "avi": SampleFacts(MediaKind.VIDEO, "video/x-msvideo", "avi", VIDEO_SIDE, VIDEO_SIDE, VIDEO_FRAMES),
    "webm": SampleFacts(MediaKind.VIDEO, "video/webm", "webm", WEBM_SIDE, WEBM_SIDE, VIDEO_FRAMES),
    # a WebM without a duration, as browsers' MediaRecorder writes them: frames must be counted
    "webm_no_duration": SampleFacts(MediaKind.VIDEO, "video/webm", "webm", WEBM_SIDE, WEBM_SIDE, VIDEO_FRAMES),
    "shots_zip": SampleFacts(MediaKind.SHOTS_SET, "application/zip", "zip", _shot_side(1), _shot_side(1), SHOT_COUNT),
}


# Building blocks --------------------------------------------------------------------------------


#: Where the astronaut's face is in `astronaut_rgb()`: (x0, y0, x1, y1) in pixels, by eye.
ASTRONAUT_FACE = (175, 76, 265, 166)


def astronaut_rgb() -> np.ndarray:
    """The 512x512 RGB astronaut photo (a real face) from scikit-image; a fresh copy each call."""
    return _astronaut().copy()


@functools.cache
def _astronaut() -> np.ndarray:
    return skdata.astronaut()


def jpeg_bytes(rgb: np.ndarray, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _moving_frame(rgb: np.ndarray, t: float, side: int) -> np.ndarray:
    """The photo turned and zoomed by `t` in [0, 1], resized to `side` x `side`."""
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 10 * t, 1 + 0.3 * t)
    moved = cv2.warpAffine(rgb, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
    return cv2.resize(moved, (side, side), interpolation=cv2.INTER_AREA)


def write_video(
    path: Path,
    fourcc: str,
    frames: int = VIDEO_FRAMES,
    fps: float = VIDEO_FPS,
    side: int = VIDEO_SIDE,
) -> Path:
    """Write the astronaut moving and zooming as a video with OpenCV (`fourcc`: mp4v, MJPG, VP80)."""
    rgb = astronaut_rgb()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (side, side))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write {fourcc} to {path}")
    try:
        for i in range(frames):
            frame = _moving_frame(rgb, i / max(frames - 1, 1), side)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return path


def _strip_webm_duration(source: Path, dest: Path) -> Path:
    """Copy a WebM with its Segment Duration element turned into an EBML Void element of equal size.

    Duration is ID 0x4489 followed by a one-byte size (0x88 or 0x84) and the float; Void is ID 0xEC,
    and the old ID's second byte 0x89 then reads as a one-byte size of 9 (or the 0x84/0x88 size
    byte plus payload), so replacing the single byte 0x44 by 0xEC keeps the file well-formed.
    """
    content = source.read_bytes()
    at = content.find(b"\x44\x89\x88")
    if at < 0:
        raise RuntimeError(f"{source} has no 8-byte Duration element")
    dest.write_bytes(content[:at] + b"\xec" + content[at + 1 :])
    return dest


def _png_with_header_size(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims `width` x `height` RGB pixels, with almost no pixel data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _zip(path: Path, entries: list[_Entry]) -> Path:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Duplicate name", UserWarning)  # the duplicate-entry sample
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, content in entries:
                archive.writestr(name, content)
    return path


def _save(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


# Valid samples ----------------------------------------------------------------------------------

_IMAGE_FILES = {
    "jpeg": "astronaut.jpg",
    "png": "astronaut.png",
    "webp": "astronaut.webp",
    "rgba_png": "astronaut_rgba.png",
    "grey_png": "astronaut_grey.png",
    "palette_png": "astronaut_palette.png",
    "exif_rotated_jpeg": "astronaut_exif6.jpg",
}


def build_valid_samples(directory: Path) -> dict[str, Path]:
    """Write every valid sample into `directory`; keys are those of `VALID_FACTS`.

    Images are the 512x512 astronaut as JPEG, PNG, WebP, RGBA PNG (alpha from transparent at the
    top to opaque at the bottom), grey and palette PNG, and a 512x384 crop stored sideways with
    EXIF Orientation=6. Videos are 3 s of the astronaut turning and zooming, 320x320 at 15 fps:
    MP4 and MOV (mp4v), AVI (MJPG), WebM (VP8, 160x160) and a WebM without duration. The shot set is a ZIP
    of 12 JPEG frames `shots/frame_<n>.jpg` (frame n is (120 + 8n) pixels square) plus a directory
    entry and `__MACOSX/` junk, which are ignored.
    """
    directory.mkdir(parents=True, exist_ok=True)
    rgb = astronaut_rgb()
    image = Image.fromarray(rgb)
    samples = {name: directory / file_name for name, file_name in _IMAGE_FILES.items()}
    samples["jpeg"].write_bytes(jpeg_bytes(rgb))
    image.save(samples["png"], format="PNG")
    image.save(samples["webp"], format="WEBP", quality=85)
    rgba = image.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(image.size))
    rgba.save(samples["rgba_png"], format="PNG")
    image.convert("L").save(samples["grey_png"], format="PNG")
    image.convert("P", palette=Image.Palette.ADAPTIVE).save(samples["palette_png"], format="PNG")
    exif = Image.Exif()
    exif[_EXIF_ORIENTATION] = 6
    Image.fromarray(rgb[64:448]).save(samples["exif_rotated_jpeg"], format="JPEG", exif=exif.tobytes())
    samples["mp4"] = write_video(directory / "astronaut.mp4", "mp4v")
    samples["mov"] = write_video(directory / "astronaut.mov", "mp4v")
    samples["avi"] = write_video(directory / "astronaut.avi", "MJPG")
    samples["webm"] = write_video(directory / "astronaut.webm", "VP80", side=WEBM_SIDE)
    samples["webm_no_duration"] = _strip_webm_duration(samples["webm"], directory / "astronaut_no_duration.webm")
    samples["shots_zip"] = build_shots_zip(directory / "shots.zip")
    return samples


def build_shots_zip(path: Path, count: int = SHOT_COUNT) -> Path:
    """A ZIP shot set of `count` JPEG frames of the astronaut, frame n being (120 + 8n) px square.

    Entries are written out of order, with a directory entry and macOS junk, as real archives come.
    """
    rgb = astronaut_rgb()
    frames = [
        (f"shots/frame_{n}.jpg", jpeg_bytes(_moving_frame(rgb, n / count, _shot_side(n)))) for n in range(1, count + 1)
    ]
    entries: list[_Entry] = [("shots/", b"")]
    entries += list(reversed(frames))
    entries += [("__MACOSX/shots/._frame_1.jpg", b"\x00\x05\x16\x07junk")]
    return _zip(path, entries)


# Malformed samples ------------------------------------------------------------------------------


def build_malformed_samples(directory: Path) -> dict[str, tuple[Path, ErrorCode]]:
    """Write every malformed sample into `directory`: name -> (path, expected ErrorCode).

    The codes hold for the default `Limits()` (20 MiB files, 40 Mpx, 60 s, 300 entries, 200 MiB).
    File names carry misleading extensions on purpose where that matters (a PDF named .jpg).
    """
    directory.mkdir(parents=True, exist_ok=True)
    limits = Limits()
    rgb = astronaut_rgb()
    jpeg = jpeg_bytes(rgb)
    small_jpeg = jpeg_bytes(cv2.resize(rgb, (8, 8)))
    png_buffer = io.BytesIO()
    Image.fromarray(rgb).save(png_buffer, format="PNG")
    with tempfile.TemporaryDirectory() as scratch:
        mp4 = write_video(Path(scratch) / "source.mp4", "mp4v", side=160).read_bytes()
        avi = write_video(Path(scratch) / "source.avi", "MJPG", side=160).read_bytes()
    gif = io.BytesIO()
    Image.fromarray(rgb).save(gif, format="GIF")
    symlink = zipfile.ZipInfo("shots/link.jpg")
    symlink.external_attr = (stat.S_IFLNK | 0o777) << 16
    too_many = [(f"f{i}.jpg", small_jpeg) for i in range(limits.max_archive_entries + 1)]
    corrupt = ErrorCode.MEDIA_CORRUPT
    unsupported = ErrorCode.MEDIA_UNSUPPORTED_TYPE
    unsafe = ErrorCode.ARCHIVE_UNSAFE_ENTRY

    def save(name: str, content: bytes, code: ErrorCode) -> tuple[Path, ErrorCode]:
        return _save(directory / name, content), code

    def zipped(name: str, entries: list[_Entry], code: ErrorCode) -> tuple[Path, ErrorCode]:
        return _zip(directory / name, entries), code

    return {
        "empty": save("empty.jpg", b"", ErrorCode.MEDIA_EMPTY),
        "text": save("notes.jpg", b"just some text, not an image\n" * 20, unsupported),
        "pdf": save("document.jpg", b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n", unsupported),
        "gif": save("animation.gif", gif.getvalue(), unsupported),
        "heic_header": save("photo.mp4", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64), unsupported),
        "truncated_jpeg": save("truncated.jpg", jpeg[: len(jpeg) * 2 // 3], corrupt),
        "truncated_png": save("truncated.png", png_buffer.getvalue()[: len(png_buffer.getvalue()) // 2], corrupt),
        "jpeg_header_only": save("header_only.jpg", jpeg[:200], corrupt),
        "jpeg_garbage": save("garbage.jpg", b"\xff\xd8\xff" + b"garbage" * 50, corrupt),
        "webp_garbage": save("garbage.webp", b"RIFF\x00\x00\x00\x00WEBP" + b"garbage" * 50, corrupt),
        "truncated_mp4": save("truncated.mp4", mp4[: len(mp4) // 2], corrupt),
        "truncated_avi": save("truncated.avi", avi[: len(avi) // 2], corrupt),
        "mp4_header_only": save("header_only.mp4", mp4[:64], corrupt),
        "png_50000x50000": save("bomb.png", _png_with_header_size(50_000, 50_000), ErrorCode.MEDIA_TOO_MANY_PIXELS),
        "png_8000x6000": save("big.png", _png_with_header_size(8000, 6000), ErrorCode.MEDIA_TOO_MANY_PIXELS),
        "video_too_long": (
            write_video(directory / "long.mp4", "mp4v", frames=130, fps=2, side=64),  # 65 s
            ErrorCode.MEDIA_TOO_LONG,
        ),
        "oversize": save(  # a valid JPEG padded one byte past the limit
            "oversize.jpg", jpeg + bytes(limits.max_file_bytes + 1 - len(jpeg)), ErrorCode.MEDIA_TOO_LARGE
        ),
        "zip_dotdot": zipped("dotdot.zip", [("frame_1.jpg", jpeg), ("../evil.jpg", jpeg)], unsafe),
        "zip_absolute": zipped("absolute.zip", [("/tmp/evil.jpg", jpeg)], unsafe),
        "zip_backslash": zipped("backslash.zip", [("shots\\..\\evil.jpg", jpeg)], unsafe),
        "zip_drive": zipped("drive.zip", [("C:evil.jpg", jpeg)], unsafe),
        "zip_symlink": zipped("symlink.zip", [("frame_1.jpg", jpeg), (symlink, b"/etc/passwd")], unsafe),
        "zip_duplicate": zipped("duplicate.zip", [("frame_1.jpg", jpeg), ("frame_1.jpg", small_jpeg)], unsafe),
        "zip_too_many_entries": zipped("many.zip", too_many, ErrorCode.ARCHIVE_TOO_MANY_ENTRIES),
        "zip_bomb": zipped(
            "bomb.zip", [("frame_1.jpg", jpeg), ("frame_2.jpg", bytes(30 * 1024 * 1024))], ErrorCode.ARCHIVE_TOO_LARGE
        ),
        "zip_non_image": zipped("mixed.zip", [("frame_1.jpg", jpeg), ("notes.txt", b"hello")], unsupported),
        "zip_video_entry": zipped("video_inside.zip", [("frame_1.jpg", jpeg), ("clip.mp4", mp4)], unsupported),
        "zip_truncated_image": zipped("broken_frame.zip", [("frame_1.jpg", jpeg[: len(jpeg) // 2])], corrupt),
        "zip_pixel_bomb": zipped(
            "pixel_bomb.zip", [("frame_1.png", _png_with_header_size(50_000, 50_000))], ErrorCode.MEDIA_TOO_MANY_PIXELS
        ),
        "zip_no_images": zipped("only_dirs.zip", [("shots/", b""), ("__MACOSX/._x", b"junk")], corrupt),
        "zip_empty": save("empty.zip", b"PK\x05\x06" + bytes(18), corrupt),
        "zip_garbage": save("garbage.zip", b"PK\x03\x04" + bytes(100), corrupt),
    }
