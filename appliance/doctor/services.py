"""Checks of the services the appliance talks to: the database and the queue storage."""

from __future__ import annotations

import time
from importlib import resources
from urllib.parse import urlsplit

from appliance.core.queues import Queues
from appliance.doctor.context import DoctorContext
from appliance.doctor.local import writable
from appliance.sdk.types import DoctorCheck
from appliance.store import open_store, sqlite_path

__all__ = ["CONNECT_TIMEOUT_SECONDS", "check_database", "check_queue", "latest_migration", "without_password"]

CONNECT_TIMEOUT_SECONDS = 5


def without_password(url: str) -> str:
    """`url` with its password, if any, replaced by `***`: what the doctor may print."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username}:***@{host}").geturl()


def latest_migration(dialect: str) -> str:
    """The name of the newest migration the installed appliance ships for `dialect` (sqlite, postgres)."""
    folder = resources.files("appliance.store") / "migrations" / dialect
    return max(f.name.removesuffix(".sql") for f in folder.iterdir() if f.name.endswith(".sql"))


def _postgres_clock_offset(url: str) -> float:
    """Connect once, quickly (the pool would wait its whole timeout), and read the server's clock:
    its time minus this host's at the middle of the round trip, in seconds."""
    import psycopg

    with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT_SECONDS, autocommit=True) as conn:
        before = time.time()
        row = conn.execute("SELECT now()").fetchone()
        after = time.time()
    assert row is not None
    return row[0].timestamp() - (before + after) / 2


def check_database(ctx: DoctorContext) -> DoctorCheck:
    """The database answers and its schema is at the newest migration of the installed appliance."""
    url = ctx.settings.resolved_database_url
    shown = without_password(url)
    database_file = sqlite_path(url)
    if database_file is not None and not database_file.is_file():
        return DoctorCheck("database", "fail", f"no database at {database_file}: run appliance init")
    if database_file is None:
        try:
            ctx.database_clock_offset = _postgres_clock_offset(url)
        except Exception as exc:  # noqa: BLE001  # psycopg's errors name the cause (refused, no such database, ...)
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            return DoctorCheck("database", "fail", f"{shown} does not answer: {reason}")
    store = open_store(url)
    store.ping()
    version, latest = store.schema_version(), latest_migration("sqlite" if database_file else "postgres")
    if version != latest:
        store.close()
        return DoctorCheck(
            "database", "fail", f"{shown}: schema at {version or 'none'}, the newest is {latest}: run appliance init"
        )
    ctx.store = store
    return DoctorCheck("database", "ok", f"{shown}: schema at {version}")


def check_queue(ctx: DoctorContext) -> DoctorCheck:
    """The queue storage answers: SQLite files in a writable directory, or Redis."""
    settings = ctx.settings
    if settings.queue.backend == "sqlite":
        directory = settings.queue_sqlite_path
        where = str(directory)
        if not directory.is_dir():
            parent = next(p for p in directory.parents if p.exists())
            if not writable(parent):
                return DoctorCheck("queue", "fail", f"{directory} does not exist and {parent} takes no writes")
            return DoctorCheck("queue", "ok", f"{directory} is made when the workers first start")
        if not writable(directory):
            return DoctorCheck("queue", "fail", f"the queue directory {directory} takes no writes")
    else:
        where = without_password(settings.queue.redis_url)
    try:
        waiting = Queues(settings).pending_counts()
    except Exception as exc:  # noqa: BLE001  # SQLite and Redis clients raise their own errors
        return DoctorCheck("queue", "fail", f"{where} does not answer: {type(exc).__name__}: {exc}")
    counts = ", ".join(f"{queue} {count}" for queue, count in waiting.items())
    return DoctorCheck("queue", "ok", f"{where}: tasks waiting: {counts}")
