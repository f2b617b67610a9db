"""Fixtures of the end-to-end tests: a running appliance per deployment, and real sample media."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live import LiveAppliance, running_appliance
from tests.support.media_samples import build_valid_samples
from tests.support.postgres import create_database, drop_database, require_server
from tests.support.redis_server import delete_queue_keys, require_redis


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_valid_samples(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="module", params=["sqlite", "postgres+redis"])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAppliance]:
    """The appliance on one host (SQLite, Huey on SQLite) or on the two-host stack
    (PostgreSQL, Huey on Redis), started once per test module."""
    data_dir = tmp_path_factory.mktemp("appliance")
    if request.param == "sqlite":
        with running_appliance(data_dir) as live:
            yield live
        return
    server, redis_url = require_server(), require_redis()
    database = create_database(server)
    prefix = f"e2e{uuid.uuid4().hex[:10]}"
    try:
        with running_appliance(
            data_dir,
            DATABASE_URL=database,
            QUEUE__BACKEND="redis",
            QUEUE__REDIS_URL=redis_url,
            QUEUE__NAME_PREFIX=prefix,
        ) as live:
            yield live
    finally:
        drop_database(database, server)
        delete_queue_keys(redis_url, prefix)
