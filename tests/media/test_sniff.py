from __future__ import annotations

import pytest

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media import sniff_bytes


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = b"ftyp" + major + b"\x00\x00\x02\x00" + b"".join(compatible)
    return (len(body) + 4).to_bytes(4, "big") + body + b"\x00\x00\x00\x08free"


@pytest.mark.parametrize(
    ("head", "kind", "mime_type", "extension"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", MediaKind.IMAGE, "image/jpeg", "jpg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", MediaKind.IMAGE, "image/png", "png"),
        (b"RIFF\x10\x00\x00\x00WEBPVP8 ", MediaKind.IMAGE, "image/webp", "webp"),
        (b"RIFF\x10\x00\x00\x00AVI LIST", MediaKind.VIDEO, "video/x-msvideo", "avi"),
        (_ftyp(b"isom", b"isom", b"iso2", b"mp41"), MediaKind.VIDEO, "video/mp4", "mp4"),
        (_ftyp(b"mp42", b"mp42", b"isom"), MediaKind.VIDEO, "video/mp4", "mp4"),
        (_ftyp(b"qt  ", b"qt  "), MediaKind.VIDEO, "video/quicktime", "mov"),
        (_ftyp(b"XAVC", b"XAVC", b"mp42", b"iso2"), MediaKind.VIDEO, "video/mp4", "mp4"),  # major brand unknown
        (b"\x1a\x45\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\x82\x84webm", MediaKind.VIDEO, "video/webm", "webm"),
        (b"\x1a\x45\xdf\xa3\xa3B\x86\x81\x01B\x82\x88matroska", MediaKind.VIDEO, "video/x-matroska", "mkv"),
        (b"PK\x03\x04\x14\x00\x00\x00", MediaKind.SHOTS_SET, "application/zip", "zip"),
        (b"PK\x05\x06" + bytes(18), MediaKind.SHOTS_SET, "application/zip", "zip"),
    ],
)
def test_known_types_are_recognised_from_content(head: bytes, kind: MediaKind, mime_type: str, extension: str) -> None:
    sniffed = sniff_bytes(head)
    assert (sniffed.kind, sniffed.mime_type, sniffed.extension) == (kind, mime_type, extension)


@pytest.mark.parametrize(
    "head",
    [
        b"%PDF-1.7\n",
        b"GIF89a\x01\x00\x01\x00",
        b"hello, world\n",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"BM6\x00\x00\x00",  # BMP
        b"II*\x00\x08\x00\x00\x00",  # TIFF
        b"RIFF\x10\x00\x00\x00WAVEfmt ",
        _ftyp(b"heic", b"mif1", b"heic"),
        _ftyp(b"avif", b"avif", b"mif1", b"miaf"),
        _ftyp(b"mif1", b"mif1", b"heic", b"isom"),  # a still image even with a video brand listed
        _ftyp(b"M4A ", b"M4A ", b"mp4a"),  # audio only
        b"\xff\xd8",  # too short to be a JPEG
    ],
)
def test_other_content_is_unsupported(head: bytes) -> None:
    with pytest.raises(AppError) as caught:
        sniff_bytes(head)
    assert caught.value.code is ErrorCode.MEDIA_UNSUPPORTED_TYPE
    assert "unsupported file type" in caught.value.message


def test_no_bytes_is_empty() -> None:
    with pytest.raises(AppError) as caught:
        sniff_bytes(b"")
    assert caught.value.code is ErrorCode.MEDIA_EMPTY
