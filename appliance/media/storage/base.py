"""What every media storage offers, whichever backend holds the files.

`MediaStorage` is the one protocol callers use (the API, the workers, the retention and orphan
jobs); `LocalMediaStorage` (a directory) and `S3MediaStorage` (an S3-compatible bucket, with a
bounded local cache) implement it, and `open_storage` picks one from the settings. No caller
branches on the backend: a file is written, read, served and deleted through these methods.

Names, the same in both backends:
    files/<sha[:2]>/<sha[2:4]>/<sha256>.<ext>   validated content, one file per distinct content
    derived/<id[:2]>/<media_id>/<name>          thumbnail.jpg, preview.mp4, outputs/<analysis>/<image>.jpg
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from appliance.domain.entities import Media
from appliance.media.probe import ProbeResult
from appliance.ops.settings import Limits

__all__ = [
    "PREVIEW",
    "THUMBNAIL",
    "MediaStorage",
    "Served",
    "StoredFile",
    "check_content_name",
    "check_derived_name",
    "check_media_id",
    "output_image_name",
]

SHA256 = re.compile(r"[0-9a-f]{64}")
EXTENSION = re.compile(r"[a-z0-9]{1,8}")
MEDIA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,127}")
#: One part of a derived file's name: no dot first, so never `.` or `..`.
_NAME_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")

#: The derived files every media may have.
THUMBNAIL = "thumbnail.jpg"
PREVIEW = "preview.mp4"


def check_content_name(sha256: str, extension: str) -> None:
    if not SHA256.fullmatch(sha256) or not EXTENSION.fullmatch(extension):
        raise ValueError(f"not a stored file name: {sha256!r}.{extension!r}")


def check_media_id(media_id: str) -> None:
    if not MEDIA_ID.fullmatch(media_id):
        raise ValueError(f"not a media id: {media_id!r}")


def check_derived_name(name: str) -> None:
    """A derived file's name inside its media's directory: parts joined by `/`, none hidden or `..`."""
    if not name or len(name) > 512 or not all(_NAME_PART.fullmatch(part) for part in name.split("/")):
        raise ValueError(f"not a derived file name: {name!r}")


def output_image_name(analysis_id: str, name: str) -> str:
    """The derived name of an image an analysis produced from a media."""
    return f"outputs/{analysis_id}/{name}.jpg"


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    #: Canonical extension, without the dot.
    extension: str
    size_bytes: int
    #: True if this call stored the content; False if the same content was already stored.
    created: bool
    probe: ProbeResult
    #: A local copy to read now: the stored file itself, or (object storage) the cache's copy,
    #: which the cache may evict later (`MediaStorage.local_path` fetches it again).
    path: Path
    #: The thumbnail (JPEG) made from what the probe decoded; None for a shot set (made with its preview).
    thumbnail: bytes | None = None

    def to_media(
        self,
        *,
        media_id: str,
        folder_id: str,
        original_name: str,
        tags: list[str],
        meta_data: dict[str, Any] | None = None,
    ) -> Media:
        """The media row for this stored file."""
        return Media(
            media_id=media_id,
            folder_id=folder_id,
            kind=self.probe.kind,
            sha256=self.sha256,
            extension=self.extension,
            mime_type=self.probe.mime_type,
            size_bytes=self.size_bytes,
            original_name=original_name[:255],
            tags=list(dict.fromkeys(tags)),
            width=self.probe.width,
            height=self.probe.height,
            frame_count=self.probe.frame_count,
            duration_seconds=self.probe.duration_seconds,
            meta_data=meta_data or {},
        )


@dataclass(frozen=True, slots=True)
class Served:
    """How to answer a request for a stored file: exactly one of `path` (a local file to send),
    `chunks` (the object's bytes, streamed; `size` of them) and `redirect_url` (a presigned URL)."""

    path: Path | None = None
    chunks: Iterator[bytes] | None = None
    size: int | None = None
    redirect_url: str | None = None


class MediaStorage(Protocol):
    """Stored media files and the files derived from them (see the module's docstring)."""

    #: This host's directory: uploads spooled in `tmp/`; the object backend's cache by default.
    root: Path
    limits: Limits

    @property
    def spool_dir(self) -> Path:
        """Where uploads are received and checked before they are stored (local, same filesystem as tmp/)."""
        ...

    def describe(self) -> str:
        """Where the files are, for logs and the doctor (no secret)."""
        ...

    # Content files

    def ingest(self, source: BinaryIO, original_name: str) -> StoredFile:
        """Receive `source` (to its end), validate it and store it under its SHA-256. AppError
        (MEDIA_*, ARCHIVE_*, STORAGE_UNAVAILABLE) when refused or not stored; then nothing is left."""
        ...

    def discard(self, stored: StoredFile) -> None:
        """Undo `ingest` when the caller failed to record it: delete the content if that call created it."""
        ...

    def delete_file(self, sha256: str, extension: str) -> None:
        """Delete stored content; a missing one is not an error."""
        ...

    def local_path(self, sha256: str, extension: str) -> Path:
        """A local file with the stored content, for decoders that need a path; FileNotFoundError
        when the content is not stored. The object backend fetches it into its cache first."""
        ...

    def serve_file(self, sha256: str, extension: str) -> Served:
        """How to answer a request for stored content; AppError NOT_EXIST when it is not stored."""
        ...

    # Derived files

    def put_derived(self, media_id: str, name: str, data: bytes) -> None:
        """Store a derived file whole (a reader never sees half of it)."""
        ...

    def derived_target(self, media_id: str, name: str) -> AbstractContextManager[Path]:
        """A local path to write a derived file to; stored when the block succeeds, dropped when it fails."""
        ...

    def serve_derived(self, media_id: str, name: str) -> Served:
        """How to answer a request for a derived file; AppError NOT_EXIST when there is none."""
        ...

    def delete_derived(self, media_id: str) -> None:
        """Delete every file derived from one media (this host's face tracks of it too); idempotent."""
        ...

    def track_cache_dir(self, media_id: str) -> Path:
        """The local directory where this host keeps the face tracks of one media (not created here)."""
        ...

    # The orphan sweep (core/orphans.py)

    def files_older_than(self, cutoff: float) -> Iterator[tuple[str, Any]]:
        """(sha256, item) of each content file last stored or stored again before `cutoff`; `item`
        is what `remove_unused` takes."""
        ...

    def remove_unused(self, item: Any, cutoff: float, unused: Callable[[], bool]) -> bool:
        """Remove one content file of `files_older_than` if it is still older than `cutoff` and
        `unused()`; True if removed."""
        ...

    def restore_set_aside(self) -> int:
        """Put back what an earlier sweep set aside and did not decide on; how many."""
        ...

    def derived_older_than(self, cutoff: float) -> Iterator[str]:
        """The media ids whose derived files were all written before `cutoff`."""
        ...

    def clean_tmp(self, max_age_seconds: float = 3600.0) -> int:
        """Remove upload leftovers older than `max_age_seconds`; how many."""
        ...

    # Operations

    def check_writable(self) -> None:
        """Raise (OSError, AppError STORAGE_UNAVAILABLE) unless files can be written where they go."""
        ...
