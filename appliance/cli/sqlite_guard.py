"""SQLite serves one host: what `init`, `serve`, `worker`, `scheduler` and `run` check first.

The processes of one host share a SQLite file safely through their kernel's locks and page
cache. A second host can only reach that file through a shared filesystem, where neither is
reliable, and the database gets corrupted. So, when the settings name SQLite:
1. a SQLite file (the database or the queue files) on a network filesystem is refused;
2. a database that another host (another `host_name`) reported into within the last day is
   refused: a bind mount or a filesystem type that 1 does not know may hide a share, but the
   hosts table (`report_this_host`) still shows who else used the file.
Two hosts run on PostgreSQL and Redis instead (docs/two-hosts.md).

Check 2 sees a host once it has reported (the API when it starts, a worker at its first task),
so two hosts starting at the same moment can both pass; the next start of either is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance.ops.filesystems import network_mount_of
from appliance.ops.settings import Settings
from appliance.store import open_store, sqlite_path

__all__ = ["OTHER_HOST_WINDOW", "refuse_shared_sqlite"]

#: A report by another host older than this no longer blocks (a renamed or retired machine).
OTHER_HOST_WINDOW = timedelta(days=1)

#: The migration that creates the hosts table; an older database has no reports to read.
_HOSTS_MIGRATION = "0002_hosts"

_TWO_HOSTS = "run two hosts on PostgreSQL and Redis (docs/two-hosts.md)"


def _sqlite_files(settings: Settings) -> list[tuple[str, Path]]:
    files = []
    if (database := sqlite_path(settings.resolved_database_url)) is not None:
        files.append(("the SQLite database", database))
    if settings.queue.backend == "sqlite":
        files.append(("the SQLite queue directory", settings.queue_sqlite_path))
    return files


def _refuse_network_filesystems(settings: Settings, mountinfo: str | None) -> None:
    for what, path in _sqlite_files(settings):
        if (mount := network_mount_of(path, mountinfo)) is not None:
            raise ValueError(
                f"{what} {path} is on a network filesystem ({mount.fstype} {mount.source} on {mount.mount_point}):"
                f" SQLite needs a local disk of one host; move it there, or {_TWO_HOSTS}"
            )


def _refuse_other_hosts(settings: Settings, database: Path, now: datetime) -> None:
    store = open_store(settings.resolved_database_url)
    try:
        if (store.schema_version() or "") < _HOSTS_MIGRATION:
            return
        others = [
            host
            for host in store.list_hosts()
            if host.hostname != settings.hostname and host.time_updated >= now - OTHER_HOST_WINDOW
        ]
    finally:
        store.close()
    if others:
        other = max(others, key=lambda host: host.time_updated)
        raise ValueError(
            f"the SQLite database {database} is used by another host: {other.hostname!r} reported into it at"
            f" {other.time_updated:%Y-%m-%d %H:%M} UTC and this host is {settings.hostname!r}; SQLite serves one"
            f" host, {_TWO_HOSTS}. If {other.hostname!r} is this host under another name, set host_name to"
            f" {other.hostname!r} (APPLIANCE_HOST_NAME)"
        )


def refuse_shared_sqlite(settings: Settings, *, mountinfo: str | None = None, now: datetime | None = None) -> None:
    """Raise ValueError (one line for the CLI) when the SQLite files `settings` name may be shared
    between hosts. `mountinfo`: the mount table to read instead of this process's (tests)."""
    _refuse_network_filesystems(settings, mountinfo)
    database = sqlite_path(settings.resolved_database_url)
    if database is not None and database.is_file():
        _refuse_other_hosts(settings, database, now or datetime.now(UTC))
