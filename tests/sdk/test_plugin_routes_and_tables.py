"""The hooks that let a plugin own API routes and database tables, with the notes test plugin
(tests/plugins/notes_plugin.py): its migrations on SQLite and PostgreSQL, its routes over real
HTTP in a running API, with the appliance's authentication, error bodies and signed links."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from appliance.core.plugins import PluginSource, load_plugins, start_plugins
from appliance.sdk import PluginDatabase, PluginError
from appliance.sdk.registry import RouteRegistry
from appliance.store import open_store
from tests.plugins import notes_plugin
from tests.support.live import LiveAppliance, running_appliance
from tests.support.postgres import create_database, drop_database, require_server

NOTES = "tests.plugins.notes_plugin"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'appliance.db'}"
        return
    server = require_server()
    url = create_database(server)
    try:
        yield url
    finally:
        drop_database(url, server)


def test_hook_database_migrations(database_url: str) -> None:
    plugins = load_plugins([NOTES], entry_points=False)
    store = open_store(database_url)
    try:
        steps = plugins.migrations(store.dialect)
        assert [name for name, _ in steps] == [f"{NOTES}:0001_notes"]
        applied = store.migrate(steps)
        assert applied[-1] == f"{NOTES}:0001_notes" and ":" not in (store.schema_version() or ":")
        assert store.migrate(steps) == []  # each step once
        db = PluginDatabase(store.backend)
        written = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
        with db.transaction():
            db.execute(
                "INSERT INTO notes_notes (note_id, company_id, text, meta_data, time_created)"
                " VALUES ('n1', 'c1', 'hello', :meta, :time)",
                {"meta": db.json({"nested": [1, "two"]}), "time": db.time(written)},
            )
        (row,) = db.fetch("SELECT * FROM notes_notes WHERE note_id = :id", {"id": "n1"})
        assert db.from_json(row["meta_data"]) == {"nested": [1, "two"]} and db.from_time(row["time_created"]) == written
        with pytest.raises(db.integrity_error):
            db.execute("INSERT INTO notes_notes SELECT * FROM notes_notes")
    finally:
        store.close()


def test_a_migrations_folder_without_the_dialect_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sqlite").mkdir()

    class Plugin:
        @staticmethod
        @notes_plugin.hookimpl
        def database_migrations() -> Path:
            return tmp_path

    plugins = start_plugins([PluginSource(Plugin(), "half-done", "1")])
    assert plugins.migrations("sqlite") == []
    with pytest.raises(PluginError, match="plugin half-done 1: its migrations folder has no postgres/ folder"):
        plugins.migrations("postgres")


def test_plugin_routes_live_under_api() -> None:
    registry = RouteRegistry("stray")
    with pytest.raises(PluginError, match="plugin routes start with /api/"):
        registry.add(type("Outside", (), {"path": "/notes"}))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAppliance]:
    with running_appliance(
        tmp_path_factory.mktemp("appliance"), workers={}, scheduler=False, PLUGIN_MODULES=json.dumps([NOTES])
    ) as live:
        yield live


def test_hook_register_routes(live: LiveAppliance) -> None:
    admin = live.client(live.login())
    company = admin.post("/api/companies", json={"name": "Notes Ltd"}).json()["company_id"]
    created = admin.post("/api/notes", json={"company_id": company, "text": "hello", "meta_data": {"k": 1}})
    assert created.status_code == 201, created.text
    note = created.json()
    assert admin.get(f"/api/notes/{note['note_id']}").json()["meta_data"] == {"k": 1}

    anonymous = live.client()
    refused = anonymous.get(f"/api/notes/{note['note_id']}")
    assert (refused.status_code, refused.json()["error_code"]) == (401, 6)
    missing = admin.get("/api/notes/no-such-note")
    assert (missing.status_code, missing.json()["error_name"]) == (404, "NOT_EXIST")
    malformed = admin.post("/api/notes", json={"text": "no company"})
    assert (malformed.status_code, malformed.json()["error_code"]) == (400, 3)

    link = httpx.URL(note["text_url"])
    assert anonymous.get(link.path, params=dict(link.params)).text == "hello"  # the signed link needs no token
    forged = anonymous.get(link.path, params={**dict(link.params), "signature": "0" * 64})
    assert (forged.status_code, forged.json()["error_code"]) == (401, 8)
    assert admin.get(link.path).text == "hello"  # or a token
