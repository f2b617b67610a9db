"""A bounded local cache of stored files, for an object storage backend.

Workers decode media with OpenCV and PyAV, which read a local path: the object backend fetches a
file into this cache once, and every analysis of this host reads it from there. Layout:

    files/<sha[:2]>/<sha256>.<ext>     a copy of stored content (checked against its SHA-256)
    tracks/<id[:2]>/<media_id>/        the face tracks this host computed from a media
    tmp/                               fetches in progress

A copy appears under its name only whole (written under tmp/, then renamed), so a reader never
sees half of one. Each use touches it; when the cache grows past its cap, the least recently used
copies go first (`evict`), except those used in the last `keep_seconds`: an analysis may be about
to open one, and a file deleted under an open reader stays readable to it anyway.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from appliance.media.storage.base import check_content_name, check_media_id

__all__ = ["LocalCache"]


class LocalCache:
    def __init__(self, root: Path, max_bytes: int, *, keep_seconds: float = 60.0) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self.keep_seconds = keep_seconds
        self._files = root / "files"
        self._tracks = root / "tracks"
        self._tmp = root / "tmp"
        self._lock = threading.Lock()
        #: Bytes this process added since it last measured the cache; None: never measured.
        self._added: int | None = None

    def file_path(self, sha256: str, extension: str) -> Path:
        check_content_name(sha256, extension)
        return self._files / sha256[:2] / f"{sha256}.{extension}"

    def track_dir(self, media_id: str) -> Path:
        check_media_id(media_id)
        return self._tracks / media_id[:2] / media_id

    def get(self, sha256: str, extension: str) -> Path | None:
        """The cached copy, touched (it was used now); None when there is none."""
        path = self.file_path(sha256, extension)
        try:
            os.utime(path)
        except FileNotFoundError:
            return None
        return path

    def fill(self, sha256: str, extension: str, write: Callable[[Any], None]) -> Path:
        """Cache content that `write(out)` writes; ValueError (nothing kept) when what it wrote is
        not the content `sha256` names. Another process filling the same copy meanwhile is harmless:
        both write the same bytes, and the last rename wins."""
        final = self.file_path(sha256, extension)
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._tmp, prefix="fetch-")
        tmp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                hashing = _Hashing(out)
                write(hashing)
            if hashing.digest.hexdigest() != sha256:
                raise ValueError(f"the object of {sha256}.{extension} does not hold that content")
            self._place(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return final

    def adopt(self, sha256: str, extension: str, source: Path) -> Path:
        """Move `source` (a checked file of the same filesystem, e.g. an upload just stored) into the cache."""
        final = self.file_path(sha256, extension)
        self._place(source, final)
        return final

    def drop(self, sha256: str, extension: str) -> None:
        self.file_path(sha256, extension).unlink(missing_ok=True)

    def drop_tracks(self, media_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self.track_dir(media_id))

    def writable(self) -> None:
        """Raise OSError unless a file can be written here."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self._tmp):
            pass

    # Eviction -----------------------------------------------------------------------------------

    def evict(self, now: float | None = None) -> int:
        """Remove the least recently used copies and face tracks until the cache is under its cap;
        how many files went. Those used in the last `keep_seconds` stay, even past the cap."""
        now = time.time() if now is None else now
        entries = []
        total = 0
        for path in _walk_files((self._files, self._tracks)):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # removed meanwhile (a deletion, or another process's prune)
            total += stat.st_size
            entries.append((stat.st_mtime, stat.st_size, path))
        with self._lock:
            self._added = 0
        removed = 0
        if total <= self.max_bytes:
            return 0
        for mtime, size, path in sorted(entries):
            if total <= self.max_bytes or mtime > now - self.keep_seconds:
                break
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
                total -= size
                with contextlib.suppress(OSError):  # an emptied directory of face tracks, not a shared fan-out
                    if path.parent.parent.parent == self._tracks:
                        path.parent.rmdir()
        return removed

    def _place(self, tmp: Path, final: Path) -> None:
        final.parent.mkdir(parents=True, exist_ok=True)
        size = tmp.stat().st_size
        os.replace(tmp, final)
        with self._lock:
            due = self._added is None or self._added + size > self.max_bytes // 10
            self._added = (self._added or 0) + size
        if due:
            self.evict()


class _Hashing:
    """A writable file object that hashes what goes through it (what a download writes into)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self.digest = hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self._out.write(data)


def _walk_files(roots: tuple[Path, ...]) -> Iterator[Path]:
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                yield Path(directory) / name
