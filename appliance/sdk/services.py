"""What the appliance lends a plugin beyond analyses: its own tables, files, cache and the face pipeline.

One `PluginServices` per plugin and process. An analyzer reaches it as `ctx.services`, the routes a
plugin adds (`register_routes`) as the `plugin: PluginDependency` parameter (`appliance.sdk.web`):

- `db`, a `PluginDatabase`: SQL on the appliance's own database (SQLite or PostgreSQL), for the
  tables the plugin's migrations create (`database_migrations` hook);
- `files`, `PluginFiles`: uploads checked exactly like media (type sniffed from the content, fully
  decoded, within the site's limits) and kept content-addressed in a directory of the plugin's
  own under the media storage, shared by every host as the media are;
- `data_dir`: a directory of the plugin's own beside its files, for what it manages itself (an index);
- `faces(media)`: the face track of a file, as `ctx.faces` computes it; `active_embedding()`: the
  model and space the face pipeline embeds with now (after a model change, what to re-enrol into);
- `company_meta(company_id)`: a company's `meta_data`, where its admins keep per-company choices;
- `signed_url(path)`: an expiring link to one of the plugin's routes, as media links are signed.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from appliance.media.storage import LocalMediaStorage, StoredFile
from appliance.ops.settings import Limits
from appliance.sdk.errors import FaceModelsUnavailable, PluginServicesUnavailable
from appliance.sdk.types import MediaInput
from appliance.vision.service import DEFAULT_MAX_FRAMES, VisionService
from appliance.vision.track import FaceTrack
from appliance.wire import UrlSigner

__all__ = [
    "ActiveEmbedding",
    "PluginDatabase",
    "PluginFiles",
    "PluginServices",
    "PluginServicesUnavailable",
    "SqlBackend",
    "StoredFile",
]


class SqlBackend(Protocol):
    """What `PluginDatabase` needs of the appliance's store backend (appliance.store.backend)."""

    dialect: str

    @property
    def integrity_error(self) -> type[Exception]: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]: ...

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int: ...

    def encode_json(self, value: Any) -> Any: ...

    def decode_json(self, value: Any) -> Any: ...

    def encode_time(self, value: datetime) -> Any: ...

    def decode_time(self, value: Any) -> datetime: ...


class PluginDatabase:
    """SQL on the appliance's database, for the plugin's own tables.

    Statements take named `:name` parameters on both engines. Write SQL both SQLite and
    PostgreSQL run, and keep the types the two differ on behind the helpers: a JSON column is TEXT
    on SQLite and JSONB on PostgreSQL (`json` / `from_json`), a time column TEXT and TIMESTAMPTZ
    (`time` / `from_time`); `bytes` bind to BLOB and BYTEA alike. Inside `with db.transaction():`
    every statement of the thread is one transaction (nested blocks join it); outside, each
    statement commits alone. A violated constraint raises `db.integrity_error`.
    """

    def __init__(self, backend: SqlBackend) -> None:
        self._backend = backend

    @property
    def dialect(self) -> str:
        """`sqlite` or `postgres`."""
        return self._backend.dialect

    @property
    def integrity_error(self) -> type[Exception]:
        return self._backend.integrity_error

    def transaction(self) -> AbstractContextManager[None]:
        return self._backend.transaction()

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a SELECT (or of a write with RETURNING), as dicts by column name."""
        return self._backend.fetch(sql, params)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Run a statement that returns no rows; the number of rows it changed."""
        return self._backend.execute(sql, params)

    def json(self, value: Any) -> Any:
        return self._backend.encode_json(value)

    def from_json(self, value: Any) -> Any:
        return self._backend.decode_json(value)

    def time(self, value: datetime) -> Any:
        """A timezone-aware datetime as a time column stores it (text order is time order on SQLite)."""
        return self._backend.encode_time(value)

    def from_time(self, value: Any) -> datetime:
        return self._backend.decode_time(value)

    def now(self) -> Any:
        """The current UTC time as a time column stores it."""
        return self.time(datetime.now(UTC))


class PluginFiles:
    """A plugin's stored files: checked like uploaded media, content-addressed, shared by identical
    content. The plugin counts its own references (rows naming a file's sha256) and deletes a file
    when the last one goes."""

    def __init__(self, storage: LocalMediaStorage) -> None:
        self._storage = storage

    def ingest(self, source: BinaryIO, original_name: str) -> StoredFile:
        """Check and store the content of `source`; AppError (MEDIA_*, ARCHIVE_*) when refused,
        with nothing left behind. `StoredFile.created` says whether this call added the file."""
        return self._storage.ingest(source, original_name)

    @property
    def spool_dir(self) -> Path:
        """Where uploads wait while they are received and checked (on the same filesystem as the files)."""
        return self._storage.root / "tmp"

    def path(self, sha256: str, extension: str) -> Path:
        return self._storage.path_for(sha256, extension)

    def delete(self, sha256: str, extension: str) -> None:
        """Delete a stored file; a missing one is not an error."""
        self._storage.delete_file(sha256, extension)

    @staticmethod
    def media_input(stored: StoredFile, media_id: str, tags: tuple[str, ...] = ()) -> MediaInput:
        """The stored file as a `MediaInput`, e.g. to pass to `PluginServices.faces`."""
        return MediaInput.from_facts(stored.probe, media_id=media_id, tags=tags, path=stored.path)


@dataclass(frozen=True, slots=True)
class ActiveEmbedding:
    """The embedding model the face pipeline uses now: `name@version`, and the space of its vectors."""

    model: str
    space: str


@dataclass(frozen=True, eq=False)
class PluginServices:
    plugin: str
    db: PluginDatabase
    files: PluginFiles
    #: A directory of the plugin's own in the media storage (shared by every host as the media are),
    #: for files it manages itself, such as an index; created by the plugin when it needs it.
    data_dir: Path
    limits: Limits
    _urls: UrlSigner = field(repr=False)
    _vision: VisionService | None = field(default=None, repr=False)

    def faces(self, media: MediaInput, max_frames: int = DEFAULT_MAX_FRAMES) -> FaceTrack:
        """The face track of `media`, as `ctx.faces` gives it; never stored on disk (the plugin's files
        are no media, and a track beside them would outlive their deletion)."""
        if self._vision is None:
            raise FaceModelsUnavailable("this process has no face models")
        return self._vision.face_track(media, max_frames, persist=False)

    def active_embedding(self) -> ActiveEmbedding:
        """The embedding model `faces` embeds with now (the store's preferred one, which a bundle can change)."""
        if self._vision is None:
            raise FaceModelsUnavailable("this process has no face models")
        embedder = self._vision.embedder()
        return ActiveEmbedding(f"{embedder.model.name}@{embedder.model.version}", embedder.space)

    def company_meta(self, company_id: str) -> dict[str, Any]:
        """The `meta_data` of a company (set through the companies API); empty for an unknown company."""
        rows = self.db.fetch("SELECT meta_data FROM companies WHERE company_id = :id", {"id": company_id})
        meta = self.db.from_json(rows[0]["meta_data"]) if rows else {}
        return dict(meta) if isinstance(meta, dict) else {}

    def signed_url(self, path: str) -> str:
        """An absolute, expiring link to `path` (one of the plugin's routes) that needs no token;
        `appliance.sdk.web.caller_or_signed_link` checks it."""
        return self._urls.sign(path)

    def link_is_valid(self, path: str, expires: str, signature: str) -> bool:
        return self._urls.verify(path, expires, signature)
