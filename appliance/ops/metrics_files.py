"""This host's directory of metric files: each process writes its own, the scraper adds them up.

prometheus_client's multiprocess mode: once `use_directory` ran in a process, every value the
process records lives in `<kind>_<pid>.db` files in that directory (counters, histograms, and one
file per live-gauge mode), which forked children (Huey's process workers) re-open under their own
pid. Whoever serves `/metrics` on the host (the API, or `appliance metrics`) reads every file.

Files outlive their process, which is what keeps a killed worker's counts. Two clean-ups keep
them true:
- at every scrape, `mark_ended_processes`: a process that no longer runs has its live gauges
  (workers, analyses in progress) removed, as prometheus_client's `mark_process_dead` does;
- when the API or the exporter starts, `remove_files_of_ended_processes`: files of processes that
  no longer run come from an earlier run of the host and are dropped (for Prometheus, a counter
  reset), so the directory does not grow with every restart.

Processes are told apart by pid, so only processes of one PID namespace (one host, or one
container) may share a directory. Whether a pid still runs is read from /proc: a process killed
but not yet reaped by its parent (a zombie) has ended.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from prometheus_client import multiprocess, values

__all__ = ["ENV_VAR", "mark_ended_processes", "process_running", "remove_files_of_ended_processes", "use_directory"]

#: What prometheus_client reads to find the directory (and what children inherit).
ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"
_FILE = re.compile(r"^(?P<kind>[a-z_]+)_(?P<pid>\d+)\.db$")


def use_directory(path: Path) -> None:
    """Record this process's metrics (and its children's) in files under `path`.

    Call it when the process starts, before it records anything: values made before stay in memory.
    """
    path.mkdir(parents=True, exist_ok=True)
    if os.environ.get(ENV_VAR) == str(path) and values.ValueClass is not values.MutexValue:
        return
    os.environ[ENV_VAR] = str(path)
    # prometheus_client chooses its value class when it is imported; this process may have
    # imported it before it knew the directory (no value exists yet: every metric has labels).
    values.ValueClass = values.MultiProcessValue()


def process_running(pid: int) -> bool:
    """Whether process `pid` runs (exists and is not a zombie) in this PID namespace."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def _files_by_pid(path: Path) -> dict[int, list[Path]]:
    found: dict[int, list[Path]] = {}
    for file in path.glob("*.db"):
        match = _FILE.match(file.name)
        if match:
            found.setdefault(int(match["pid"]), []).append(file)
    return found


def mark_ended_processes(path: Path) -> list[int]:
    """Remove the live gauges of every process that no longer runs; the pids it removed them for."""
    ended = []
    for pid, files in _files_by_pid(path).items():
        if any(f.name.startswith("gauge_live") for f in files) and not process_running(pid):
            multiprocess.mark_process_dead(pid, str(path))
            ended.append(pid)
    return ended


def remove_files_of_ended_processes(path: Path) -> int:
    """Delete every file of processes that no longer run (an earlier run's); how many were deleted."""
    removed = 0
    for pid, files in _files_by_pid(path).items():
        if not process_running(pid):
            for file in files:
                file.unlink(missing_ok=True)
                removed += 1
    return removed
