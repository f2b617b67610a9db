"""Shot sets: which entries of a ZIP are frames, in what order, and which entries are unsafe."""

from __future__ import annotations

import re
import stat
import zipfile
from pathlib import PurePosixPath

__all__ = ["frame_entries", "is_junk", "natural_key", "unsafe_reason"]

#: Entries archivers add that are not content: ignored rather than refused.
_JUNK_PREFIX = "__MACOSX/"
_JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[tuple[str | int, ...], str]:
    """Sort key that orders `frame2.jpg` before `frame10.jpg`.

    `re.split` with a capturing group alternates text and digit runs, so the tuples compare text with
    text and numbers with numbers; the name itself breaks ties.
    """
    parts = _DIGITS.split(name.casefold())
    return tuple(int(part) if i % 2 else part for i, part in enumerate(parts)), name


def is_junk(name: str) -> bool:
    return name.startswith(_JUNK_PREFIX) or PurePosixPath(name).name in _JUNK_NAMES


def unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    """Why an entry could escape or confuse an extraction (a path or a link), or None if it is safe.

    Entries are never extracted here, but a shot set may be unpacked by other tools later; refusing
    such archives outright is simpler than reasoning about every consumer.
    """
    name = info.filename
    if not name or "\x00" in info.orig_filename:
        return "has an empty or NUL-containing name"
    if name.startswith("/"):
        return "has an absolute path"
    if "\\" in name:
        return "has a backslash in its path"
    if _DRIVE.match(name):
        return "has a drive letter"
    if ".." in name.split("/"):
        return "has a '..' path component"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return None


def frame_entries(zf: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    """The entries that hold frames (not directories, not archiver junk), in natural name order."""
    entries = [info for info in zf.infolist() if not info.is_dir() and not is_junk(info.filename)]
    return sorted(entries, key=lambda info: natural_key(info.filename))
