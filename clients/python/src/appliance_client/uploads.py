"""A folder upload's multipart body, streamed in chunks that report their progress.

The body is built here rather than by httpx so that its length is known before the first byte
(`on_progress(sent_bytes, total_bytes)`) and so that it can be streamed again on a retry.
"""

from __future__ import annotations

import mimetypes
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import httpx

__all__ = ["MultipartBody", "ProgressCallback", "Upload"]

ProgressCallback = Callable[[int, int], None]

_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Upload:
    """One media file of an upload: a path (read as it is sent) or bytes, with its tags."""

    content: Path | bytes
    tags: list[str]
    #: the file name sent; default: the path's name, or the media key
    name: str | None = None
    meta_data: dict[str, object] = field(default_factory=dict)

    def filename(self, key: str) -> str:
        return self.name or (self.content.name if isinstance(self.content, Path) else key)


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody(httpx.SyncByteStream, httpx.AsyncByteStream):
    """`multipart/form-data`: each upload as a part named by its key, then the `payload` part."""

    def __init__(
        self, uploads: Sequence[tuple[str, Upload]], payload: bytes, on_progress: ProgressCallback | None = None
    ) -> None:
        self._boundary = uuid.uuid4().hex
        self._on_progress = on_progress
        # each part's head, its content, and the bytes after it
        self._parts: list[tuple[bytes, Path | bytes]] = []
        for key, upload in uploads:
            name = upload.filename(key)
            mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
            head = (
                f"--{self._boundary}\r\n"
                f'Content-Disposition: form-data; name="{_quoted(key)}"; filename="{_quoted(name)}"\r\n'
                f"Content-Type: {mime}\r\n\r\n"
            )
            self._parts.append((head.encode(), upload.content))
        payload_head = f'--{self._boundary}\r\nContent-Disposition: form-data; name="payload"\r\n\r\n'
        self._parts.append((payload_head.encode(), payload))
        self._tail = f"--{self._boundary}--\r\n".encode()
        self.total = sum(len(head) + _size(content) + 2 for head, content in self._parts) + len(self._tail)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": f"multipart/form-data; boundary={self._boundary}",
            "Content-Length": str(self.total),
        }

    def _chunks(self) -> Iterator[bytes]:
        for head, content in self._parts:
            yield head
            if isinstance(content, Path):
                with content.open("rb") as file:
                    yield from _read(file)
            else:
                for start in range(0, len(content), _CHUNK):
                    yield content[start : start + _CHUNK]
            yield b"\r\n"
        yield self._tail

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        for chunk in self._chunks():
            sent += len(chunk)
            yield chunk
            if self._on_progress is not None:
                self._on_progress(sent, self.total)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self:
            yield chunk


def _size(content: Path | bytes) -> int:
    return content.stat().st_size if isinstance(content, Path) else len(content)


def _read(file: BinaryIO) -> Iterator[bytes]:
    while chunk := file.read(_CHUNK):
        yield chunk
