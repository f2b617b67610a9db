"""Reading multipart uploads (`payload` part + media files) under the site's limits.

The body is parsed as it streams in (the `multipart` parser Litestar itself uses), so a file over
the size limit or one file too many is refused before the rest is read. File parts go to spooled
temporary files in the storage's own tmp directory, or stay in memory for the instant mode, which
writes nothing to disk. The `payload` part is decoded as every JSON a request carries
(`request_bodies.parse_json`: its depth, no NUL), and a part's name or file name with a NUL is
refused as it starts.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from litestar import Request
from multipart import MultipartSegment, ParserError, ParserLimitReached, PushMultipartParser

from appliance.domain.errors import AppError, ErrorCode
from appliance.ops.settings import Limits
from appliance.web.request_bodies import check_text, parse_json

__all__ = ["ParsedUpload", "UploadedFile", "read_multipart"]

PAYLOAD_PART = "payload"
_SPOOL_IN_MEMORY_BYTES = 1024 * 1024


@dataclass(slots=True)
class UploadedFile:
    key: str
    filename: str
    file: BinaryIO
    size: int = 0


@dataclass(slots=True)
class ParsedUpload:
    files: list[UploadedFile] = field(default_factory=list)
    payload: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        for upload in self.files:
            upload.file.close()


def _file_factory(spool_dir: Path | None) -> Callable[[], BinaryIO]:
    if spool_dir is None:
        return io.BytesIO
    spool_dir.mkdir(parents=True, exist_ok=True)
    return lambda: cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY_BYTES, dir=str(spool_dir)))


class _PartSink:
    """Collects the parts of one request while enforcing the limits part by part."""

    def __init__(self, limits: Limits, new_file: Callable[[], BinaryIO]) -> None:
        self.limits = limits
        self.new_file = new_file
        self.result = ParsedUpload()
        self.payload_text: bytearray | None = None
        self._file: UploadedFile | None = None
        self._text: bytearray | None = None
        self._segment: MultipartSegment | None = None

    def start(self, segment: MultipartSegment) -> None:
        self._segment = segment
        check_text(segment.name, "a form part's name")
        if segment.filename is not None:
            if len(self.result.files) >= self.limits.max_files_per_request:
                raise AppError(
                    ErrorCode.TOO_MANY_FILES,
                    f"at most {self.limits.max_files_per_request} files per request",
                    {"max_files": self.limits.max_files_per_request},
                )
            if any(f.key == segment.name for f in self.result.files):
                raise AppError(ErrorCode.PAYLOAD_INVALID, f"two files are named {segment.name!r}")
            check_text(segment.filename, f"the name of file {segment.name!r}")
            self._file = UploadedFile(key=segment.name, filename=segment.filename, file=self.new_file())
            self.result.files.append(self._file)
        elif segment.name == PAYLOAD_PART:
            if self.payload_text is not None:
                raise AppError(ErrorCode.PAYLOAD_INVALID, "the payload part is given twice")
            self._text = self.payload_text = bytearray()
        else:
            raise AppError(
                ErrorCode.PAYLOAD_INVALID,
                f"unexpected form field {segment.name!r}: send media as files and everything else in 'payload'",
            )

    def write(self, chunk: bytes) -> None:
        if self._file is not None:
            self._file.size += len(chunk)
            if self._file.size > self.limits.max_file_bytes:
                raise AppError(
                    ErrorCode.MEDIA_TOO_LARGE,
                    f"file {self._file.key!r} is larger than {self.limits.max_file_bytes} bytes",
                    {"media_key": self._file.key, "max_bytes": self.limits.max_file_bytes},
                )
            self._file.file.write(chunk)
        elif self._text is not None:
            self._text.extend(chunk)
            if len(self._text) > self.limits.max_payload_bytes:
                raise AppError(
                    ErrorCode.PAYLOAD_INVALID, f"payload is larger than {self.limits.max_payload_bytes} bytes"
                )

    def end(self) -> None:
        if self._file is not None:
            self._file.file.seek(0)
        self._file = self._text = self._segment = None


async def read_multipart(request: Request, limits: Limits, spool_dir: Path | None) -> ParsedUpload:
    """Parse a multipart upload. `spool_dir` None keeps files in memory (instant mode)."""
    content_type, options = request.content_type
    boundary = options.get("boundary")
    if content_type != "multipart/form-data" or not boundary:
        raise AppError(ErrorCode.PAYLOAD_INVALID, "send media as multipart/form-data with a 'payload' part")
    sink = _PartSink(limits, _file_factory(spool_dir))
    try:
        with PushMultipartParser(boundary.encode(), max_segment_count=limits.max_files_per_request + 2) as parser:
            async for chunk in request.stream():
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        sink.start(event)
                    elif event:
                        sink.write(event)
                    else:
                        sink.end()
                if parser.closed:
                    break
            if not parser.closed:
                raise ParserError("the body ended inside a part")
        sink.result.payload = _decode_payload(sink.payload_text, limits)
    except ParserLimitReached as exc:
        sink.result.close()
        raise AppError(ErrorCode.TOO_MANY_FILES, f"too many form parts: {exc}") from exc
    except ParserError as exc:
        sink.result.close()
        raise AppError(ErrorCode.PAYLOAD_INVALID, f"malformed multipart body: {exc}") from exc
    except BaseException:
        sink.result.close()
        raise
    return sink.result


def _decode_payload(text: bytearray | None, limits: Limits) -> dict[str, Any]:
    if text is None or not text.strip():
        return {}
    payload = parse_json(bytes(text), limits, what="payload", malformed=ErrorCode.PAYLOAD_INVALID)
    if not isinstance(payload, dict):
        raise AppError(ErrorCode.PAYLOAD_INVALID, "payload must be a JSON object")
    return payload
