"""The settings of the two deployments a test may run the appliance on: one host (SQLite, Huey on
SQLite, the defaults) or the two-host stack (PostgreSQL and Huey on Redis), the latter with a
database and queue names of its own, removed afterwards."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.postgres import create_database, drop_database, require_server
from tests.support.redis_server import delete_queue_keys, require_redis

__all__ = ["DEPLOYMENTS", "deployment_settings"]

DEPLOYMENTS = ("sqlite", "postgres+redis")


@contextmanager
def deployment_settings(kind: str) -> Iterator[dict[str, str]]:
    """Extra settings (`running_appliance` keywords) of deployment `kind`, one of DEPLOYMENTS."""
    if kind == "sqlite":
        yield {}
        return
    server, redis_url = require_server(), require_redis()
    database = create_database(server)
    prefix = f"e2e{uuid.uuid4().hex[:10]}"
    try:
        yield {
            "DATABASE_URL": database,
            "QUEUE__BACKEND": "redis",
            "QUEUE__REDIS_URL": redis_url,
            "QUEUE__NAME_PREFIX": prefix,
        }
    finally:
        drop_database(database, server)
        delete_queue_keys(redis_url, prefix)
