"""What a file really is, from its first bytes: never from its name or the client's content type.

Only the formats the appliance can decode and analyse are accepted; everything else (PDF, text,
GIF, HEIC, ...) is refused here, before any decoder sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode

__all__ = ["SNIFF_BYTES", "Sniffed", "identify", "sniff_bytes", "sniff_file"]

#: How many leading bytes `sniff_bytes` needs to decide (the ISO BMFF brand list and the EBML DocType
#: both sit within them).
SNIFF_BYTES = 64


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: MediaKind
    mime_type: str
    #: Canonical extension, without the dot.
    extension: str


_JPEG = Sniffed(MediaKind.IMAGE, "image/jpeg", "jpg")
_PNG = Sniffed(MediaKind.IMAGE, "image/png", "png")
_WEBP = Sniffed(MediaKind.IMAGE, "image/webp", "webp")
_MP4 = Sniffed(MediaKind.VIDEO, "video/mp4", "mp4")
_MOV = Sniffed(MediaKind.VIDEO, "video/quicktime", "mov")
_WEBM = Sniffed(MediaKind.VIDEO, "video/webm", "webm")
_MKV = Sniffed(MediaKind.VIDEO, "video/x-matroska", "mkv")
_AVI = Sniffed(MediaKind.VIDEO, "video/x-msvideo", "avi")
_ZIP = Sniffed(MediaKind.SHOTS_SET, "application/zip", "zip")

#: ISO BMFF brands of video files (MP4, QuickTime, 3GP). Still-image brands (heic, mif1, avif)
#: share the container and are deliberately absent.
_VIDEO_BRANDS: dict[bytes, Sniffed] = {
    b"qt  ": _MOV,
    **{
        brand: _MP4
        for brand in (
            b"isom",
            b"iso2",
            b"iso3",
            b"iso4",
            b"iso5",
            b"iso6",
            b"mp41",
            b"mp42",
            b"mp4v",
            b"mp4x",
            b"avc1",
            b"dash",
            b"M4V ",
            b"M4VP",
            b"M4VH",
            b"MSNV",
            b"mmp4",
            b"f4v ",
            b"3gp4",
            b"3gp5",
            b"3gp6",
            b"3g2a",
        )
    },
}
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"})


def sniff_bytes(head: bytes) -> Sniffed:
    """The type of a file whose first `SNIFF_BYTES` (or all, if shorter) bytes are `head`.

    Raises AppError MEDIA_EMPTY for no bytes and MEDIA_UNSUPPORTED_TYPE for anything unknown.
    """
    if not head:
        raise AppError(ErrorCode.MEDIA_EMPTY, "the file is empty")
    found = identify(head)
    if found is None:
        raise AppError(
            ErrorCode.MEDIA_UNSUPPORTED_TYPE,
            "unsupported file type: expected a JPEG, PNG or WebP image, an MP4, MOV, WebM, MKV or AVI video,"
            " or a ZIP of images",
        )
    return found


def sniff_file(path: Path) -> Sniffed:
    with path.open("rb") as fh:
        return sniff_bytes(fh.read(SNIFF_BYTES))


def identify(head: bytes) -> Sniffed | None:
    """The type `head` starts, or None for anything unsupported."""
    if head.startswith(b"\xff\xd8\xff"):
        return _JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return _PNG
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _WEBP
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return _AVI
    if head[4:8] == b"ftyp":
        return _match_ftyp(head)
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        # EBML header: the DocType element tells WebM from other Matroska files.
        return _WEBM if b"webm" in head else _MKV
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):  # a ZIP with entries, or an empty one
        return _ZIP
    return None


def _match_ftyp(head: bytes) -> Sniffed | None:
    """The `ftyp` box: a major brand at 8..12, then the minor version and compatible brands."""
    major = head[8:12]
    if major in _VIDEO_BRANDS:
        return _VIDEO_BRANDS[major]
    box_end = min(int.from_bytes(head[:4], "big"), len(head))
    compatible = {head[i : i + 4] for i in range(16, box_end - 3, 4)}
    if major in _IMAGE_BRANDS or compatible & _IMAGE_BRANDS:
        return None
    for brand in sorted(compatible):
        if brand in _VIDEO_BRANDS:
            return _VIDEO_BRANDS[brand]
    return None
