"""The local backend: content-addressed storage of uploaded media, and the files derived from
them, in a directory (one host's disk, or a share mounted on every host).

Layout under the root:
    tmp/                                      uploads being received and checked
    tmp/sweep/                                content files the orphan sweep holds aside for a moment
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
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO

from appliance.domain.errors import AppError, ErrorCode
from appliance.media.atomic import atomic_target, write_atomically
from appliance.media.previews import THUMBNAIL_SIDE, thumbnail_jpeg
from appliance.media.probe import ProbeResult, probe_file
from appliance.media.storage.base import (
    MEDIA_ID,
    PREVIEW,
    SHA256,
    THUMBNAIL,
    Served,
    StoredFile,
    check_content_name,
    check_derived_name,
    check_media_id,
)
from appliance.ops.settings import Limits

__all__ = ["LocalMediaStorage", "receive_checked"]

_CHUNK_BYTES = 1024 * 1024
_SHA256 = SHA256
_MEDIA_ID = MEDIA_ID
#: Errors of file systems without hard links; storing then falls back to a rename.
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP})


class LocalMediaStorage:
    """`MediaStorage` in a directory (module docstring)."""

    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self._tmp = root / "tmp"
        self._files = root / "files"
        self._derived = root / "derived"
        #: Content files the orphan sweep holds out of sight while it decides (`remove_unused`).
        self._aside = self._tmp / "sweep"

    # Content files ------------------------------------------------------------------------------

    @property
    def spool_dir(self) -> Path:
        return self._tmp

    def describe(self) -> str:
        return f"directory {self.root}"

    def ingest(self, source: BinaryIO, original_name: str) -> StoredFile:
        """Receive `source` (read from its current position to its end), validate it and store it
        under its SHA-256.

        The type comes from the content alone. Raises AppError (MEDIA_*, ARCHIVE_*; `details`
        names `original_name`) when the file is refused; whatever the outcome, nothing is left in
        tmp/, and nothing is added under files/ unless the call succeeds.
        """
        with receive_checked(source, original_name, self._tmp, self.limits) as (tmp, sha256, size, probe, thumbnail):
            final = self.path_for(sha256, probe.extension)
            created = self._place(tmp, final)
            return StoredFile(sha256, probe.extension, size, created, probe, final, thumbnail)

    def path_for(self, sha256: str, extension: str) -> Path:
        check_content_name(sha256, extension)
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

    def local_path(self, sha256: str, extension: str) -> Path:
        path = self.path_for(sha256, extension)
        if not path.is_file():
            raise FileNotFoundError(f"no stored file {sha256}.{extension}")
        return path

    def serve_file(self, sha256: str, extension: str) -> Served:
        return _served(self.path_for(sha256, extension))

    def iter_files(self) -> Iterator[Path]:
        """Every stored content file (for consistency checks against the database)."""
        for path in sorted(self._files.glob("*/*/*")):
            if path.is_file():
                yield path

    def files_older_than(self, cutoff: float) -> Iterator[tuple[str, Path]]:
        """(sha256, path) of each stored content file last written or uploaded again before
        `cutoff` (a `time.time()`)."""
        for path in self.iter_files():
            sha256 = path.name.partition(".")[0]
            if _SHA256.fullmatch(sha256) and _modified_before(path, cutoff):
                yield sha256, path

    def remove_unused(self, path: Path, cutoff: float, unused: Callable[[], bool]) -> bool:
        """Remove the content file `path` if, once it is out of sight, it is still older than
        `cutoff` and `unused()`; otherwise put it back. True if removed.

        An upload of the same content that found the file in place touched it first (`_place`), so
        it is seen as young here; one that comes while the file is out of sight stores it anew.
        """
        self._aside.mkdir(parents=True, exist_ok=True)
        aside = self._aside / f"{uuid.uuid4().hex}-{path.name}"
        try:
            os.rename(path, aside)
        except FileNotFoundError:
            return False
        if _modified_before(aside, cutoff) and unused():
            aside.unlink(missing_ok=True)  # missing: another sweep put it back (`restore_set_aside`)
            return True
        with contextlib.suppress(FileNotFoundError):
            os.replace(aside, path)  # the same content under its own name, even if an upload stored it meanwhile
        return False

    def restore_set_aside(self) -> int:
        """Put back the files a sweep set aside and did not get to decide on (it was killed); how many."""
        restored = 0
        for aside in self._aside.glob("*-*") if self._aside.is_dir() else ():
            name = aside.name.partition("-")[2]
            sha256 = name.partition(".")[0]
            with contextlib.suppress(FileNotFoundError, ValueError):
                os.replace(aside, self.path_for(sha256, name.partition(".")[2]))
                restored += 1
        return restored

    # Derived files ------------------------------------------------------------------------------

    def derived_dir(self, media_id: str) -> Path:
        """Directory of the files derived from one media (not created here)."""
        check_media_id(media_id)
        return self._derived / media_id[:2] / media_id

    def derived_path(self, media_id: str, name: str) -> Path:
        check_derived_name(name)
        return self.derived_dir(media_id) / name

    def thumbnail_path(self, media_id: str) -> Path:
        return self.derived_path(media_id, THUMBNAIL)

    def preview_path(self, media_id: str) -> Path:
        return self.derived_path(media_id, PREVIEW)

    def put_derived(self, media_id: str, name: str, data: bytes) -> None:
        write_atomically(self.derived_path(media_id, name), data)

    def derived_target(self, media_id: str, name: str) -> AbstractContextManager[Path]:
        return atomic_target(self.derived_path(media_id, name))

    def serve_derived(self, media_id: str, name: str) -> Served:
        return _served(self.derived_path(media_id, name))

    def track_cache_dir(self, media_id: str) -> Path:
        """Face tracks live beside the media's other derived files, and go with them."""
        return self.derived_dir(media_id)

    def output_dir(self, media_id: str) -> Path:
        """Directory for the images analyzers produce from this media (not created here)."""
        return self.derived_dir(media_id) / "outputs"

    def derived_older_than(self, cutoff: float) -> Iterator[str]:
        """The media ids of the derived directories last changed before `cutoff` (a `time.time()`)."""
        for path in sorted(self._derived.glob("*/*")):
            if path.is_dir() and _MEDIA_ID.fullmatch(path.name) and _modified_before(path, cutoff):
                yield path.name

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

    def _place(self, tmp: Path, final: Path) -> bool:
        """Make the checked `tmp` visible as `final`; False if that content was already stored.

        A hard link is created atomically and only if `final` is absent, so of two concurrent
        uploads of the same content exactly one reports `created`.
        """
        self._make_dirs(final.parent)
        try:
            os.link(tmp, final)
        except FileExistsError:
            return self._reused(tmp, final)
        except OSError as exc:
            if exc.errno not in _NO_HARD_LINKS:
                raise
            if final.exists():
                return self._reused(tmp, final)
            os.replace(tmp, final)
        _fsync(final.parent)
        return True

    def _reused(self, tmp: Path, final: Path) -> bool:
        """The content is already stored: touch it, so that the orphan sweep sees it in use
        (`remove_unused`), and return False; if the sweep took it away meanwhile, store it anew."""
        try:
            os.utime(final)
        except FileNotFoundError:
            return self._place(tmp, final)
        return False

    def _make_dirs(self, directory: Path) -> None:
        """Create `directory` and its missing parents, syncing each new entry into its parent."""
        missing: list[Path] = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for created in reversed(missing):
            created.mkdir(exist_ok=True)
            _fsync(created.parent)


@contextlib.contextmanager
def receive_checked(
    source: BinaryIO, original_name: str, tmp_dir: Path, limits: Limits
) -> Iterator[tuple[Path, str, int, ProbeResult, bytes | None]]:
    """Receive `source` into a file of `tmp_dir` and check it: (that file, its SHA-256, its size,
    the probe without its picture, the thumbnail made from that picture). The file is removed
    when the block ends, whatever happens. AppError (MEDIA_*, ARCHIVE_*, and whatever the block
    raises) carries `original_name` in its details."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="ingest-")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            sha256, size = _receive(source, out, limits)
        probe = probe_file(tmp, limits, poster_side=THUMBNAIL_SIDE)
        thumbnail = thumbnail_jpeg(probe.poster) if probe.poster is not None else None
        probe = replace(probe, poster=None)  # the picture is not kept past the request's thumbnail
        _fsync(tmp)
        yield tmp, sha256, size, probe, thumbnail
    except AppError as exc:
        details = {**(exc.details or {}), "original_name": original_name}
        raise AppError(exc.code, exc.message, details) from exc
    finally:
        tmp.unlink(missing_ok=True)


def _receive(source: BinaryIO, out: BinaryIO, limits: Limits) -> tuple[str, int]:
    """Copy `source` to `out` in chunks; return its SHA-256 and size. Stops at the size limit."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(_CHUNK_BYTES):
        size += len(chunk)
        if size > limits.max_file_bytes:
            raise AppError(
                ErrorCode.MEDIA_TOO_LARGE,
                f"the file is larger than the limit of {limits.max_file_bytes} bytes",
            )
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest(), size


def _served(path: Path) -> Served:
    if not path.is_file():
        raise AppError(ErrorCode.NOT_EXIST, "file not found")
    return Served(path=path)


def _modified_before(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime < cutoff
    except FileNotFoundError:
        return False


def _fsync(path: Path) -> None:
    """Flush a file's data, or a directory's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
