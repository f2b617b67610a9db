"""A test plugin that owns a table and API routes: company notes (`/api/notes`), through
`database_migrations` and `register_routes` and nothing of the appliance but `appliance.sdk`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, JSONBody

from appliance.sdk import PluginServices, hookimpl
from appliance.sdk.web import (
    AppError,
    CurrentUser,
    ErrorCode,
    PluginDependency,
    RouteRegistry,
    caller_or_signed_link,
    can_administer_company_data,
    can_read_company,
    found,
)

__version__ = "1.0"


class NoteIn(msgspec.Struct, forbid_unknown_fields=True):
    company_id: str
    text: str
    meta_data: dict[str, Any] = {}


def _note(plugin: PluginServices, note_id: str) -> dict[str, Any] | None:
    rows = plugin.db.fetch("SELECT * FROM notes_notes WHERE note_id = :id", {"id": note_id})
    if not rows:
        return None
    row = rows[0]
    return {
        "note_id": row["note_id"],
        "company_id": row["company_id"],
        "text": row["text"],
        "meta_data": plugin.db.from_json(row["meta_data"]),
        "time_created": plugin.db.from_time(row["time_created"]).isoformat(),
        "text_url": plugin.signed_url(f"/api/notes/{row['note_id']}/text"),
    }


class NoteController(Controller):
    path = "/api/notes"

    @post("/", sync_to_thread=True)
    def create(self, user: CurrentUser, plugin: PluginDependency, data: JSONBody[NoteIn]) -> Response[dict[str, Any]]:
        if not can_administer_company_data(user, data.company_id):
            raise AppError(ErrorCode.AUTH_FORBIDDEN, "only admins write notes")
        note_id = str(uuid.uuid4())
        plugin.db.execute(
            "INSERT INTO notes_notes (note_id, company_id, text, meta_data, time_created)"
            " VALUES (:id, :company_id, :text, :meta_data, :now)",
            {
                "id": note_id,
                "company_id": data.company_id,
                "text": data.text,
                "meta_data": plugin.db.json(data.meta_data),
                "now": plugin.db.now(),
            },
        )
        return Response(_note(plugin, note_id), status_code=201)

    @get("/{note_id:str}", sync_to_thread=True)
    def read(self, user: CurrentUser, plugin: PluginDependency, note_id: FromPath[str]) -> dict[str, Any]:
        return found(_note(plugin, note_id), lambda n: can_read_company(user, n["company_id"]), "note")

    @get("/{note_id:str}/text", sync_to_thread=True)
    def text(self, request: Request, plugin: PluginDependency, note_id: FromPath[str]) -> str:
        user = caller_or_signed_link(request, plugin)
        note = found(_note(plugin, note_id), lambda n: user is None or can_read_company(user, n["company_id"]), "note")
        return note["text"]


@hookimpl
def register_routes(routes: RouteRegistry) -> None:
    routes.add(NoteController)


@hookimpl
def database_migrations() -> Path:
    return Path(__file__).with_name("notes_migrations")
