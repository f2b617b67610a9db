"""Uploads probed and decoded in memory: the instant mode keeps nothing on disk.

An anonymous memory file (`memfd_create`) has a path, `/proc/self/fd/<n>`, that every decoder can
open like a regular file: Pillow, zipfile, and OpenCV's FFmpeg, which detects the container from
the content, so the path needs no extension. Linux only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from appliance.media.probe import ProbeResult, check_file_size, probe_file
from appliance.media.sniff import SNIFF_BYTES, sniff_bytes
from appliance.ops.settings import Limits

__all__ = ["in_memory_file", "probe_bytes"]


@contextmanager
def in_memory_file(data: bytes, suffix: str = "") -> Iterator[Path]:
    """A readable path holding `data`, backed by memory only, valid inside the `with` block.

    `suffix` only names the memory file (it shows in /proc/<pid>/fd), which helps when debugging;
    no decoder needs it.
    """
    fd = os.memfd_create(f"appliance-upload{suffix}", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        written = 0
        while written < len(view):
            written += os.write(fd, view[written:])
        yield Path(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)


def probe_bytes(data: bytes, limits: Limits) -> ProbeResult:
    """`probe_file` for an upload held in memory, with the file size limit checked first."""
    check_file_size(len(data), limits)  # before copying the bytes into the memory file
    sniffed = sniff_bytes(data[:SNIFF_BYTES])
    with in_memory_file(data, f".{sniffed.extension}") as path:
        return probe_file(path, limits, sniffed)
