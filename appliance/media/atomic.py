"""Writing a file so that a reader never sees half of it: the content goes to a temporary name
beside the destination (hidden, with the destination's suffix, so that a writer that picks its
format from the name picks the right one) and is renamed over it (`rename(2)` is atomic); on any
failure the temporary file is removed and the destination is as it was.

For the files the appliance derives and can derive again (thumbnails, previews, output images,
face tracks): atomic for readers, not fsynced. The model store's files, which must survive a power
loss, are written durably by the model store's distribution (appliance_modelstore.files).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_target", "write_atomically"]


@contextmanager
def atomic_target(dest: Path, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside `dest` to write to; it replaces `dest` (with permissions `mode`,
    when given) when the block succeeds, and is removed when it fails. `dest`'s directory is made."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}-", suffix=dest.suffix)
    os.close(fd)
    temp = Path(name)
    try:
        yield temp
        if mode is not None:
            os.chmod(temp, mode)
        os.replace(temp, dest)
    finally:
        temp.unlink(missing_ok=True)


def write_atomically(dest: Path, data: bytes, mode: int | None = None) -> None:
    """Write `data` to `dest` through a temporary file renamed into place."""
    with atomic_target(dest, mode) as temp:
        temp.write_bytes(data)
