"""Content-addressed storage of uploaded media, and the files derived from them.

Layout under the root:
    tmp/                                      uploads being received and checked
    files/<sha[:2]>/<sha[2:4]>/<sha256>.<ext>  validated content, one file per distinct content
    derived/<id[:2]>/<media_id>/               thumbnail, preview and analyzer outputs of one media

An upload becomes visible under files/ only once it is complete, validated and on disk (fsync of
the file and of its directory), so readers never see a partial or unchecked file. Identical
uploads share one file; the database counts the media rows that refer to it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from appliance.domain.entities import Media
from appliance.domain.errors import AppError, ErrorCode
from appliance.media.previews import THUMBNAIL_SIDE, thumbnail_jpeg
from appliance.media.probe import ProbeResult, probe_file
from appliance.ops.settings import Limits

__all__ = ["MediaStorage", "StoredFile"]

_CHUNK_BYTES = 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")
_EXTENSION = re.compile(r"[a-z0-9]{1,8}")
_MEDIA_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{1,127}")
#: Errors of file systems without hard links; storing then falls back to a rename.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP})


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    #: Canonical extension, without the dot.
    extension: str
    size_bytes: int
    #: True if this call stored the content; False if the same content was already stored.
    created: bool
    probe: ProbeResult
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


class MediaStorage:
    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self._tmp = root / "tmp"
        self._files = root / "files"
        self._derived = root / "derived"

    # Content files ------------------------------------------------------------------------------

    def ingest(self, source: BinaryIO, original_name: str) -> StoredFile:
        """Receive `source` (read from its current position to its end), validate it and store it
        under its SHA-256.

        The type comes from the content alone. Raises AppError (MEDIA_*, ARCHIVE_*; `details`
        names `original_name`) when the file is refused; whatever the outcome, nothing is left in
        tmp/, and nothing is added under files/ unless the call succeeds.
        """
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="ingest-")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                sha256, size = self._receive(source, out)
            probe = probe_file(tmp, self.limits, poster_side=THUMBNAIL_SIDE)
            thumbnail = thumbnail_jpeg(probe.poster) if probe.poster is not None else None
            probe = replace(probe, poster=None)  # the picture is not kept past the request's thumbnail
            _fsync(tmp)
            final = self.path_for(sha256, probe.extension)
            created = self._place(tmp, final)
            return StoredFile(sha256, probe.extension, size, created, probe, final, thumbnail)
        except AppError as exc:
            details = {**(exc.details or {}), "original_name": original_name}
            raise AppError(exc.code, exc.message, details) from exc
        finally:
            tmp.unlink(missing_ok=True)

    def path_for(self, sha256: str, extension: str) -> Path:
        if not _SHA256.fullmatch(sha256) or not _EXTENSION.fullmatch(extension):
            raise ValueError(f"not a stored file name: {sha256!r}.{extension!r}")
        return self._files / sha256[:2] / sha256[2:4] / f"{sha256}.{extension}"

    def discard(self, stored: StoredFile) -> None:
        """Undo `ingest` after the caller failed to record the file: delete it if that call created it.

        The file may meanwhile be shared by a concurrent upload of the same content, so a caller
        that records media should check for other references first (the store counts them).
        """
        if stored.created:
            self.delete_file(stored.sha256, stored.extension)

    def delete_file(self, sha256: str, extension: str) -> None:
        """Delete a stored file; deleting a missing file is not an error.

        Emptied fan-out directories are kept: removing them could race an ingest into the same one.
        """
        self.path_for(sha256, extension).unlink(missing_ok=True)

    def iter_files(self) -> Iterator[Path]:
        """Every stored content file (for consistency checks against the database)."""
        for path in sorted(self._files.glob("*/*/*")):
            if path.is_file():
                yield path

    # Derived files ------------------------------------------------------------------------------

    def derived_dir(self, media_id: str) -> Path:
        """Directory of the files derived from one media (not created here)."""
        if not _MEDIA_ID.fullmatch(media_id):
            raise ValueError(f"not a media id: {media_id!r}")
        return self._derived / media_id[:2] / media_id

    def thumbnail_path(self, media_id: str) -> Path:
        return self.derived_dir(media_id) / "thumbnail.jpg"

    def preview_path(self, media_id: str) -> Path:
        return self.derived_dir(media_id) / "preview.mp4"

    def output_dir(self, media_id: str) -> Path:
        """Directory for the images analyzers produce from this media (not created here)."""
        return self.derived_dir(media_id) / "outputs"

    def delete_derived(self, media_id: str) -> None:
        """Delete every file derived from one media; idempotent."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.derived_dir(media_id))

    # Operations ---------------------------------------------------------------------------------

    def check_writable(self) -> None:
        """Raise OSError unless a file can be written and synced in each storage directory."""
        for directory in (self._tmp, self._files, self._derived):
            directory.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(dir=directory, prefix=".health-")
            try:
                os.write(fd, b"ok")
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(name)

    def clean_tmp(self, max_age_seconds: float = 3600.0) -> int:
        """Remove leftovers of uploads interrupted by a crash; return how many were removed.

        Files younger than `max_age_seconds` may belong to uploads still in progress and are kept.
        """
        if not self._tmp.is_dir():
            return 0
        cutoff = time.time() - max_age_seconds
        removed = 0
        for path in self._tmp.iterdir():
            if path.is_file() and path.stat().st_mtime < cutoff:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    # Helpers ------------------------------------------------------------------------------------

    def _receive(self, source: BinaryIO, out: BinaryIO) -> tuple[str, int]:
        """Copy `source` to `out` in chunks; return its SHA-256 and size. Stops at the size limit."""
        digest = hashlib.sha256()
        size = 0
        while chunk := source.read(_CHUNK_BYTES):
            size += len(chunk)
            if size > self.limits.max_file_bytes:
                raise AppError(
                    ErrorCode.MEDIA_TOO_LARGE,
                    f"the file is larger than the limit of {self.limits.max_file_bytes} bytes",
                )
            digest.update(chunk)
            out.write(chunk)
        return digest.hexdigest(), size

    def _place(self, tmp: Path, final: Path) -> bool:
        """Make the checked `tmp` visible as `final`; False if that content was already stored.

        A hard link is created atomically and only if `final` is absent, so of two concurrent
        uploads of the same content exactly one reports `created`.
        """
        self._make_dirs(final.parent)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return False
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if final.exists():
                return False
            os.replace(tmp, final)
        _fsync(final.parent)
        return True

    def _make_dirs(self, directory: Path) -> None:
        """Create `directory` and its missing parents, syncing each new entry into its parent."""
        missing: list[Path] = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for created in reversed(missing):
            created.mkdir(exist_ok=True)
            _fsync(created.parent)


def _fsync(path: Path) -> None:
    """Flush a file's data, or a directory's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
