"""The API while its PostgreSQL database refuses connections (a primary switch, an outage): 503 with
SERVICE_UNAVAILABLE (107) and Retry-After after `database.api_retry_seconds`, never 500, and the
same requests answered as usual once the database takes connections again
(docs/postgres-failover.md). The test database is made to refuse new connections and its
connections are ended, as a killed primary's are.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from litestar.testing import TestClient

from appliance.api.app import create_app
from appliance.auth.accounts import create_account
from appliance.domain.enums import Role
from appliance.ops.settings import DatabaseSettings, MetricsSettings, Settings
from tests.plugins import brightness_plugin
from tests.support.postgres import create_database, drop_database, require_server

pytestmark = pytest.mark.postgres

API_RETRY_SECONDS = 1.5
PASSWORD = "a-password-1"


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    server = require_server()
    url = create_database(server, prefix="failover_api")
    yield url
    drop_database(url, server)


@pytest.fixture(scope="module")
def client(database: str, tmp_path_factory: pytest.TempPathFactory, default_models_root: Path) -> Iterator[TestClient]:
    settings = Settings(
        data_dir=str(tmp_path_factory.mktemp("appliance")),
        database_url=database,
        models_root=str(default_models_root),
        secret_key=uuid.uuid4().hex,
        plugin_modules=[brightness_plugin.__name__],
        metrics=MetricsSettings(enabled=False),
        database=DatabaseSettings(api_retry_seconds=API_RETRY_SECONDS, connect_timeout_seconds=1),
    )
    with TestClient(create_app(settings)) as client:
        create_account(
            client.app.state.services.store, email="admin@failover.test", password=PASSWORD, user_type=Role.ADMIN
        )
        yield client


def _refuse_connections(database: str, refused: bool) -> None:
    name = database.rsplit("/", 1)[1]
    with psycopg.connect(require_server(), autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(not refused).lower()}')
        if refused:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (name,),
            )


def _login(client: TestClient) -> tuple[int, dict[str, object], dict[str, str]]:
    answer = client.post(
        "/api/authorize/auth", json={"credentials": {"email": "admin@failover.test", "password": PASSWORD}}
    )
    return answer.status_code, answer.json(), dict(answer.headers)


def test_a_database_away_is_503_with_retry_after_then_served_again(client: TestClient, database: str) -> None:
    status, body, _ = _login(client)
    assert status == 200, body
    token = str(body["access_token"])
    _refuse_connections(database, True)
    try:
        started = time.monotonic()
        status, body, headers = _login(client)
        waited = time.monotonic() - started
        assert status == 503, body
        assert body["error_code"] == 107 and body["error_name"] == "SERVICE_UNAVAILABLE"
        assert body["details"] == {"service": "database", "retry_after_seconds": 2}
        assert headers["retry-after"] == "2"
        assert API_RETRY_SECONDS * 0.5 < waited < API_RETRY_SECONDS + 5
        folders = client.get("/api/folders", headers={"X-Forensic-Access-Token": token})
        assert folders.status_code == 503 and folders.json()["error_code"] == 107
        started = time.monotonic()
        ready = client.get("/health/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["database"]["status"] == "fail"
        assert time.monotonic() - started < 5  # the probe waits a connect timeout, not the retry budget
    finally:
        _refuse_connections(database, False)
    assert _login(client)[0] == 200
    assert client.get("/api/folders", headers={"X-Forensic-Access-Token": token}).status_code == 200
    assert client.get("/health/ready").status_code == 200


def test_a_request_sent_while_the_database_comes_back_is_served(client: TestClient, database: str) -> None:
    """A switch shorter than `api_retry_seconds` is not seen by clients at all."""
    _refuse_connections(database, True)
    try:
        reopen = threading.Timer(API_RETRY_SECONDS / 3, _refuse_connections, args=(database, False))
        reopen.start()
        status, body, _ = _login(client)
        reopen.join()
    finally:
        _refuse_connections(database, False)
    assert status == 200, body
