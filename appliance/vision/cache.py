"""Where face tracks are kept: a small in-process LRU, and .npz files under the media's directory.

A file is `<dir>/facetrack-<key>.npz`, written to a temporary name and renamed into place, so a
reader sees a whole track or none. `locked(dir)` holds an exclusive `flock` on `<dir>/facetrack.lock`
while a track is looked up and computed: a second process (or thread) asking for the same media
waits, then reads what the first wrote. The directory is the media's derived directory, deleted
with the media, so its biometric data goes with it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.media.atomic import write_atomically
from appliance.vision.track import FaceTrack

__all__ = ["LOCK_FILE", "MemoryCache", "locked", "read_track", "track_path", "write_track"]

log = logging.getLogger(__name__)

LOCK_FILE = "facetrack.lock"


def track_path(directory: Path, key: str) -> Path:
    return directory / f"facetrack-{key}.npz"


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold the directory's face-track lock (created with the directory when absent)."""
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_track(path: Path) -> FaceTrack | None:
    """The track stored at `path`; None when there is none or it is unreadable (then it is removed)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return FaceTrack.from_npz(data)
    except ValueError as exc:
        log.warning("unreadable face track %s removed: %s", path.name, exc)
        path.unlink(missing_ok=True)
        return None


def write_track(path: Path, track: FaceTrack) -> None:
    """Write atomically, readable by this user only (a track holds biometric data)."""
    write_atomically(path, track.to_npz(), mode=0o600)


class MemoryCache:
    """The last few tracks of this process, by key (least recently used dropped first)."""

    def __init__(self, capacity: int = 8) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, FaceTrack] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> FaceTrack | None:
        with self._lock:
            track = self._items.get(key)
            if track is not None:
                self._items.move_to_end(key)
            return track

    def put(self, key: str, track: FaceTrack) -> None:
        if self.capacity < 1:
            return
        with self._lock:
            self._items[key] = track
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def drop(self, media_id: str) -> None:
        """Forget every track of one media."""
        with self._lock:
            for key in [k for k, t in self._items.items() if t.media_id == media_id]:
                del self._items[key]

    def __len__(self) -> int:
        return len(self._items)
