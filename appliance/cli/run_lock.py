"""`<data_dir>/run.lock`: held by the one `appliance run` of a data directory while it runs.

The file names that process (first line, its pid) and where its API answers (second line), so
that `appliance demo` from another terminal finds the instance without being told its port.
The kernel drops the lock when the process ends, however it ends; a stale file says nothing.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_FILE", "hold_run_lock", "running_url"]

LOCK_FILE = "run.lock"


@contextmanager
def hold_run_lock(data_dir: Path, url: str) -> Iterator[None]:
    """Hold the lock while the block runs; ValueError (one line for the user) when another holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with (data_dir / LOCK_FILE).open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.readline().strip() or "unknown"
            raise ValueError(
                f"another `appliance run` (pid {holder}) serves {data_dir}: stop it first,"
                " or set APPLIANCE_DATA_DIR to another directory"
            ) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n{url}\n")
        lock.flush()
        yield


def running_url(data_dir: Path) -> str | None:
    """The API address of the `appliance run` holding the lock of `data_dir`, if one does."""
    path = data_dir / LOCK_FILE
    if not path.is_file():
        return None
    with path.open() as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:  # held: an instance runs
            lines = lock.read().splitlines()
            return lines[1] if len(lines) > 1 else None
        fcntl.flock(lock, fcntl.LOCK_UN)
        return None
