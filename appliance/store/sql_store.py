"""The Store written once in dialect-neutral SQL; a Backend runs it on SQLite or PostgreSQL.

Queries use named `:name` parameters. Table and column names come from the `_Table` specs below,
never from callers, so building statements with f-strings is safe.

Choices the protocol leaves open:
- `create_*` keep `time_created`/`time_updated` a caller set and fill in the current time otherwise;
  `update_*` always set `time_updated` to now. An update of a missing row raises AppError(NOT_EXIST).
- A constraint violation raises AppError: CONFLICT for a taken unique value, NOT_EXIST for a
  reference to a missing row. Either leaves an enclosing transaction usable.
- Meta-data conditions compare scalar values as text (true/false spelled out); a folder without
  the key fails `==` and passes `!=`. Time bounds in FolderFilter are inclusive.
"""

from __future__ import annotations

import dataclasses
import itertools
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from enum import Enum
from importlib import resources
from typing import Any, Generic, Literal, Protocol, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from appliance.domain.capture import CaptureSession
from appliance.domain.decisions import OperatorDecision
from appliance.domain.entities import Analysis, Company, Folder, Media, Session, User, WebhookDelivery
from appliance.domain.enums import AnalysisState, DeliveryStatus, FolderStatus, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.store.backend import Backend, Row
from appliance.store.protocol import (
    AnalysisFilter,
    AnalysisTiming,
    FolderFilter,
    HostPart,
    HostReport,
    LoginKey,
    QueueDepthPeak,
)

__all__ = ["SqlStore"]


class _InFolder(Protocol):
    folder_id: str


E = TypeVar("E")
T = TypeVar("T")
F = TypeVar("F", bound=_InFolder)
_Kind = Literal["json", "time", "bool", "plain"] | type[Enum]

_PROCESSING = AnalysisState.PROCESSING.value
_SORT_COLUMNS = frozenset({"time_created", "time_updated"})


def _kind(hint: Any) -> _Kind:
    """How a field is stored, from its annotation (`X | None` as X)."""
    if get_origin(hint) in (Union, types.UnionType):
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    if get_origin(hint) in (dict, list) or hint in (dict, list):
        return "json"
    if hint is datetime:
        return "time"
    if hint is bool:
        return "bool"
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    return "plain"


class _Table(Generic[E]):
    """A table holding one entity class: one column per dataclass field, same names."""

    def __init__(self, name: str, entity: type[E], key: str, *, mutable: Sequence[str], sequenced: bool = False):
        hints = get_type_hints(entity)
        self.name = name
        self.entity = entity
        self.key = key
        self.kinds: dict[str, _Kind] = {f.name: _kind(hints[f.name]) for f in dataclasses.fields(cast(Any, entity))}
        self.mutable = tuple(mutable)
        #: Numbered per folder in insertion order by a `seq` column.
        self.sequenced = sequenced

    def encode(self, db: Backend, entity: E) -> dict[str, Any]:
        return {column: _encode(db, kind, getattr(entity, column)) for column, kind in self.kinds.items()}

    def decode(self, db: Backend, row: Row) -> E:
        return self.entity(**{column: _decode(db, kind, row[column]) for column, kind in self.kinds.items()})


def _encode(db: Backend, kind: _Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind == "json":
        return db.encode_json(value)
    if kind == "time":
        return db.encode_time(value)
    if isinstance(kind, type):
        return kind(value).value
    return value


def _decode(db: Backend, kind: _Kind, value: Any) -> Any:
    if value is None:
        return None
    if kind == "json":
        return db.decode_json(value)
    if kind == "time":
        return db.decode_time(value)
    if kind == "bool":
        return bool(value)
    if isinstance(kind, type):
        return kind(value)
    return value


def _fields_except(entity: type, *fixed: str) -> tuple[str, ...]:
    skip = {*fixed, "time_created", "time_updated"}
    return tuple(f.name for f in dataclasses.fields(entity) if f.name not in skip)


_COMPANIES = _Table("companies", Company, "company_id", mutable=_fields_except(Company, "company_id"))
_USERS = _Table("users", User, "user_id", mutable=_fields_except(User, "user_id"))
_SESSIONS = _Table("sessions", Session, "session_id", mutable=())
_FOLDERS = _Table(
    "folders",
    Folder,
    "folder_id",
    mutable=("resolution_status", "system_resolution", "resolution_endpoint", "meta_data"),
)
_MEDIA = _Table("media", Media, "media_id", mutable=_fields_except(Media, "media_id", "folder_id"), sequenced=True)
_ANALYSES = _Table("analyses", Analysis, "analysis_id", mutable=(), sequenced=True)
_DECISIONS = _Table("operator_decisions", OperatorDecision, "decision_id", mutable=())
_CAPTURES = _Table("capture_sessions", CaptureSession, "session_id", mutable=())
_DELIVERIES = _Table(
    "webhook_deliveries",
    WebhookDelivery,
    "delivery_id",
    mutable=_fields_except(WebhookDelivery, "delivery_id", "folder_id"),
)


def _placeholders(name: str, values: Sequence[Any], params: dict[str, Any]) -> str:
    """`(:name_0, :name_1, ...)` for an IN list, binding `values` into `params`."""
    names = [f"{name}_{i}" for i in range(len(values))]
    params.update(zip(names, values, strict=True))
    return "(" + ", ".join(f":{n}" for n in names) + ")"


class _Where:
    """AND-ed conditions with their parameters."""

    def __init__(self) -> None:
        self.conditions: list[str] = []
        self.params: dict[str, Any] = {}

    def add(self, condition: str, **params: Any) -> None:
        self.conditions.append(condition)
        self.params.update(params)

    def among(self, column: str, values: Sequence[Any] | None, *, name: str, negate: bool = False) -> None:
        """`column` IN (or NOT IN) `values`; None means no condition, [] matches nothing (or all)."""
        if values is None or (negate and not values):
            return
        if not values:
            self.conditions.append("1 = 0")
            return
        self.conditions.append(f"{column} {'NOT IN' if negate else 'IN'} {_placeholders(name, values, self.params)}")

    @property
    def sql(self) -> str:
        return " AND ".join(self.conditions) or "1 = 1"


def _check_page(offset: int, limit: int) -> None:
    if offset < 0 or limit < 0:
        raise ValueError(f"offset and limit must not be negative (got {offset}, {limit})")


def _like_pattern(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') matching `text` anywhere."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _migrations(dialect: str) -> list[tuple[str, str]]:
    """(name, SQL) of this dialect's migrations, in name order."""
    folder = resources.files("appliance.store") / "migrations" / dialect
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    return [(f.name.removesuffix(".sql"), f.read_text(encoding="utf-8")) for f in files]


class SqlStore:
    """Implements `appliance.store.protocol.Store` over any Backend."""

    def __init__(self, backend: Backend) -> None:
        self._db = backend

    # Lifecycle ------------------------------------------------------------------------------------
    @property
    def dialect(self) -> str:
        return self._db.dialect

    @property
    def backend(self) -> Backend:
        return self._db

    def migrate(self, extra: Sequence[tuple[str, str]] = ()) -> list[str]:
        applied: list[str] = []
        done = self._applied_migrations()
        for name, sql in [*_migrations(self._db.dialect), *extra]:
            if name in done:
                continue
            with self._db.transaction():
                self._db.lock_migrations()
                # Another process may have applied it while this one waited for the lock.
                if name in self._applied_migrations():
                    continue
                self._db.run_script(sql)
                self._db.execute(
                    "INSERT INTO schema_migrations (name, applied_at) VALUES (:name, :now)",
                    {"name": name, "now": self._now()},
                )
            applied.append(name)
        return applied

    def _applied_migrations(self) -> set[str]:
        if not self._db.table_exists("schema_migrations"):
            return set()
        return {row["name"] for row in self._db.fetch("SELECT name FROM schema_migrations")}

    def schema_version(self) -> str | None:
        if not self._db.table_exists("schema_migrations"):
            return None
        # the appliance's own steps; plugins' are named `<plugin>:<step>` (PluginHost.migrations)
        rows = self._db.fetch("SELECT name FROM schema_migrations WHERE name NOT LIKE '%:%' ORDER BY name DESC LIMIT 1")
        return rows[0]["name"] if rows else None

    def ping(self) -> None:
        self._db.ping()

    def transaction(self) -> AbstractContextManager[None]:
        return self._db.transaction()

    def run_transaction(self, work: Callable[[], T], *, idempotent: bool = False) -> T:
        return self._db.run_transaction(work, idempotent=idempotent)

    def close(self) -> None:
        self._db.close()

    # Companies ------------------------------------------------------------------------------------
    def create_company(self, company: Company) -> Company:
        with self._constraints(unique=f"A company named {company.name!r} already exists"):
            return self._insert(_COMPANIES, company)

    def get_company(self, company_id: str) -> Company | None:
        return self._get(_COMPANIES, company_id)

    def list_companies(
        self,
        *,
        search_text: str | None = None,
        company_ids: Sequence[str] | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Company], int]:
        where = _Where()
        if search_text:
            where.add("lower(name) LIKE lower(:pattern) ESCAPE '\\'", pattern=_like_pattern(search_text))
        where.among("company_id", company_ids, name="company_id")
        return self._page(_COMPANIES, where, "name, company_id", offset, limit)

    def update_company(self, company: Company) -> Company:
        with self._constraints(unique=f"A company named {company.name!r} already exists"):
            return self._update(_COMPANIES, company)

    def delete_company(self, company_id: str) -> bool:
        in_use = AppError(ErrorCode.CONFLICT, "The company still has users or folders")
        with self.transaction(), self._constraints(reference=in_use):
            counts = self._db.fetch(
                "SELECT (SELECT COUNT(*) FROM users WHERE company_id = :id)"
                " + (SELECT COUNT(*) FROM folders WHERE company_id = :id) AS n",
                {"id": company_id},
            )
            if counts[0]["n"]:
                raise in_use
            return self._delete(_COMPANIES, company_id) > 0

    # Users ----------------------------------------------------------------------------------------
    def create_user(self, user: User) -> User:
        with self._constraints(unique=f"A user with the email {user.email!r} already exists", missing="The company"):
            return self._insert(_USERS, user)

    def get_user(self, user_id: str) -> User | None:
        return self._get(_USERS, user_id)

    def get_user_by_email(self, email: str) -> User | None:
        rows = self._db.fetch("SELECT * FROM users WHERE lower(email) = lower(:email)", {"email": email})
        return _USERS.decode(self._db, rows[0]) if rows else None

    def list_users(
        self, *, company_id: str | None = None, search_text: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[User], int]:
        where = _Where()
        if company_id is not None:
            where.add("company_id = :company_id", company_id=company_id)
        if search_text:
            matches = " OR ".join(
                f"lower({column}) LIKE lower(:pattern) ESCAPE '\\'"
                for column in ("email", "first_name", "last_name", "middle_name")
            )
            where.add(f"({matches})", pattern=_like_pattern(search_text))
        return self._page(_USERS, where, "email, user_id", offset, limit)

    def update_user(self, user: User) -> User:
        with self._constraints(unique=f"A user with the email {user.email!r} already exists", missing="The company"):
            return self._update(_USERS, user)

    def delete_user(self, user_id: str) -> bool:
        return self._delete(_USERS, user_id) > 0  # sessions go by ON DELETE CASCADE

    # Sessions -------------------------------------------------------------------------------------
    def create_session(self, session: Session) -> Session:
        with self._constraints(unique="The session already exists", missing="The user"):
            return self._insert(_SESSIONS, session)

    def get_session_by_access_hash(self, token_hash: str) -> Session | None:
        return self._find_one(_SESSIONS, "access_token_hash", token_hash)

    def get_session_by_expire_hash(self, token_hash: str) -> Session | None:
        return self._find_one(_SESSIONS, "expire_token_hash", token_hash)

    def extend_session(self, session_id: str, access_expires_at: datetime) -> None:
        self._db.execute(
            "UPDATE sessions SET access_expires_at = :expires WHERE session_id = :id",
            {"id": session_id, "expires": self._db.encode_time(access_expires_at)},
        )

    def delete_session(self, session_id: str) -> None:
        self._delete(_SESSIONS, session_id)

    def delete_user_sessions(self, user_id: str) -> int:
        return self._db.execute("DELETE FROM sessions WHERE user_id = :user_id", {"user_id": user_id})

    def delete_expired_sessions(self, now: datetime) -> int:
        return self._db.execute(
            "DELETE FROM sessions WHERE access_expires_at <= :now AND expire_token_expires_at <= :now",
            {"now": self._db.encode_time(now)},
        )

    # Folders --------------------------------------------------------------------------------------
    def create_folder(self, folder: Folder) -> Folder:
        with self._constraints(unique="The folder already exists", missing="The company"):
            return self._insert(_FOLDERS, folder)

    def get_folder(self, folder_id: str) -> Folder | None:
        return self._get(_FOLDERS, folder_id)

    def list_folders(self, flt: FolderFilter) -> tuple[list[Folder], int]:
        where = _Where()
        if flt.company_id is not None:
            where.add("company_id = :company_id", company_id=flt.company_id)
        if flt.user_id is not None:
            where.add("user_id = :user_id", user_id=flt.user_id)
        where.among("folder_id", flt.folder_ids, name="folder_id")
        if flt.resolution_status is not None:
            if flt.resolution_status:
                statuses = _placeholders("status", [s.value for s in flt.resolution_status], where.params)
                where.add(f"(resolution_status IN {statuses} OR system_resolution IN {statuses})")
            else:
                where.add("1 = 0")
        where.among("resolution_status", _values(flt.statuses), name="status_only")
        where.among("system_resolution", _values(flt.resolutions), name="resolution_only")
        for column, op, bound in (
            ("time_created", ">=", flt.time_created_min),
            ("time_created", "<=", flt.time_created_max),
            ("time_updated", ">=", flt.time_updated_min),
            ("time_updated", "<=", flt.time_updated_max),
        ):
            if bound is not None:
                name = f"{column}_{'min' if op == '>=' else 'max'}"
                where.add(f"{column} {op} :{name}", **{name: self._db.encode_time(bound)})
        for i, condition in enumerate(flt.meta_data):
            value = self._db.json_text("meta_data", f"meta_key_{i}")
            test = (
                f"{value} = :meta_value_{i}"
                if condition.op == "=="
                else f"({value} IS NULL OR {value} <> :meta_value_{i})"
            )
            where.add(test, **{f"meta_key_{i}": condition.key, f"meta_value_{i}": condition.value})
        if flt.sort_field not in _SORT_COLUMNS:
            raise ValueError(f"cannot sort folders by {flt.sort_field!r}")
        column = flt.sort_field
        direction = "DESC" if flt.sort_desc else "ASC"
        return self._page(_FOLDERS, where, f"{column} {direction}, folder_id {direction}", flt.offset, flt.limit)

    def update_folder(self, folder: Folder) -> Folder:
        return self._update(_FOLDERS, folder)

    def lock_folder(self, folder_id: str) -> bool:
        rows = self._db.fetch(
            f"SELECT folder_id FROM folders WHERE folder_id = :id{self._db.row_lock}", {"id": folder_id}
        )
        return bool(rows)

    def set_folder_outcome(self, folder_id: str, status: FolderStatus, resolution: Resolution) -> bool:
        changed = self._db.execute(
            "UPDATE folders SET resolution_status = :status, system_resolution = :resolution, time_updated = :now"
            " WHERE folder_id = :id AND (resolution_status <> :status OR system_resolution <> :resolution)",
            {"id": folder_id, "status": status.value, "resolution": resolution.value, "now": self._now()},
        )
        return changed > 0

    def delete_folder(self, folder_id: str) -> list[Media]:
        with self.transaction():
            media = self.list_media(folder_id)
            self._delete(_FOLDERS, folder_id)  # media, analyses and deliveries by ON DELETE CASCADE
        return media

    def list_unresolved_folder_ids(self, *, ended_before: datetime) -> list[str]:
        rows = self._db.fetch(
            "SELECT f.folder_id FROM folders f WHERE f.resolution_status = :processing"
            " AND EXISTS (SELECT 1 FROM analyses a WHERE a.folder_id = f.folder_id)"
            " AND NOT EXISTS (SELECT 1 FROM analyses a WHERE a.folder_id = f.folder_id"
            " AND (a.state = :running OR a.time_finished >= :ended_before))"
            " ORDER BY f.time_created, f.folder_id",
            {
                "processing": FolderStatus.PROCESSING.value,
                "running": _PROCESSING,
                "ended_before": self._db.encode_time(ended_before),
            },
        )
        return [row["folder_id"] for row in rows]

    def list_folder_ids_created_before(self, before: datetime, limit: int = 500) -> list[str]:
        rows = self._db.fetch(
            "SELECT folder_id FROM folders WHERE time_created < :before ORDER BY time_created, folder_id LIMIT :limit",
            {"before": self._db.encode_time(before), "limit": limit},
        )
        return [row["folder_id"] for row in rows]

    # Media ----------------------------------------------------------------------------------------
    def add_media(self, media: Media) -> Media:
        with self._constraints(unique="The media already exists", missing="The folder"):
            return self._insert(_MEDIA, media)

    def get_media(self, media_id: str) -> Media | None:
        return self._get(_MEDIA, media_id)

    def list_media(self, folder_id: str) -> list[Media]:
        return self.list_media_of_folders([folder_id])[folder_id]

    def list_media_of_folders(self, folder_ids: Sequence[str]) -> dict[str, list[Media]]:
        return self._of_folders(_MEDIA, folder_ids, _Where())

    def update_media(self, media: Media) -> Media:
        return self._update(_MEDIA, media)

    def delete_media(self, media_id: str) -> Media | None:
        rows = self._db.fetch("DELETE FROM media WHERE media_id = :id RETURNING *", {"id": media_id})
        return _MEDIA.decode(self._db, rows[0]) if rows else None

    def count_media_with_sha256(self, sha256: str) -> int:
        rows = self._db.fetch("SELECT COUNT(*) AS n FROM media WHERE sha256 = :sha256", {"sha256": sha256})
        return int(rows[0]["n"])

    def media_present(self, *, media_ids: Sequence[str] = (), sha256s: Sequence[str] = ()) -> tuple[set[str], set[str]]:
        return self._present("media_id", media_ids), self._present("sha256", sha256s)

    def _present(self, column: Literal["media_id", "sha256"], values: Sequence[str]) -> set[str]:
        if not values:
            return set()
        params: dict[str, Any] = {}
        sql = f"SELECT DISTINCT {column} AS v FROM media WHERE {column} IN {_placeholders(column, values, params)}"
        return {row["v"] for row in self._db.fetch(sql, params)}

    # Analyses -------------------------------------------------------------------------------------
    def create_analysis(self, analysis: Analysis) -> Analysis:
        with self._constraints(unique="The analysis already exists", missing="The folder"):
            return self._insert(_ANALYSES, analysis)

    def get_analysis(self, analysis_id: str) -> Analysis | None:
        return self._get(_ANALYSES, analysis_id)

    def list_analyses(self, folder_id: str, flt: AnalysisFilter | None = None) -> list[Analysis]:
        where = _Where()
        if flt is not None:
            where.among("analysis_id", flt.analysis_ids, name="analysis_id")
            where.among("analysis_id", flt.exclude_analysis_ids, name="not_analysis_id", negate=True)
            where.among("type", flt.types, name="type")
            where.among("type", flt.exclude_types, name="not_type", negate=True)
            where.among("state", _values(flt.states), name="state")
            where.among("state", _values(flt.exclude_states), name="not_state", negate=True)
        return self._of_folders(_ANALYSES, [folder_id], where)[folder_id]

    def list_analyses_of_folders(self, folder_ids: Sequence[str]) -> dict[str, list[Analysis]]:
        return self._of_folders(_ANALYSES, folder_ids, _Where())

    def start_analysis(self, analysis_id: str, now: datetime, lease_until: datetime | None = None) -> int | None:
        rows = self._db.fetch(
            "UPDATE analyses SET attempt = attempt + 1, time_started = :now, lease_expires_at = :lease,"
            " time_updated = :now WHERE analysis_id = :id AND state = :processing RETURNING attempt",
            {
                "id": analysis_id,
                "now": self._db.encode_time(now),
                "lease": None if lease_until is None else self._db.encode_time(lease_until),
                "processing": _PROCESSING,
            },
        )
        return rows[0]["attempt"] if rows else None

    def renew_lease(self, analysis_id: str, attempt: int, until: datetime) -> bool:
        changed = self._db.execute(
            "UPDATE analyses SET lease_expires_at = :until WHERE analysis_id = :id AND state = :processing"
            " AND attempt = :attempt AND time_started IS NOT NULL",
            {"id": analysis_id, "attempt": attempt, "until": self._db.encode_time(until), "processing": _PROCESSING},
        )
        return changed > 0

    def lease_unstarted(self, analysis_id: str, attempt: int, until: datetime) -> bool:
        changed = self._db.execute(
            "UPDATE analyses SET lease_expires_at = :until WHERE analysis_id = :id AND state = :processing"
            " AND attempt = :attempt AND time_started IS NULL AND lease_expires_at IS NULL",
            {"id": analysis_id, "attempt": attempt, "until": self._db.encode_time(until), "processing": _PROCESSING},
        )
        return changed > 0

    def finish_analysis(
        self,
        analysis_id: str,
        attempt: int,
        *,
        resolution: Resolution,
        results_data: dict[str, Any],
        results_media: list[dict[str, Any]],
        plugin: str,
        plugin_version: str,
        model_versions: dict[str, str],
        now: datetime,
    ) -> bool:
        return self._settle(
            analysis_id,
            attempt,
            now,
            state=AnalysisState.FINISHED,
            resolution_status=resolution.value,
            results_data=self._db.encode_json(results_data),
            results_media=self._db.encode_json(results_media),
            plugin=plugin,
            plugin_version=plugin_version,
            model_versions=self._db.encode_json(model_versions),
        )

    def fail_analysis(
        self, analysis_id: str, attempt: int | None, *, error_code: int, error_message: str, now: datetime
    ) -> bool:
        return self._settle(
            analysis_id,
            attempt,
            now,
            state=AnalysisState.FAILED,
            resolution_status=Resolution.FAILED.value,
            error_code=int(error_code),
            error_message=error_message,
        )

    def requeue_analysis(self, analysis_id: str, attempt: int, now: datetime) -> bool:
        # Clearing the start and the lease lets only one of two racing requeues of the same run win.
        changed = self._db.execute(
            "UPDATE analyses SET time_started = NULL, lease_expires_at = NULL, time_queued = :now, time_updated = :now"
            " WHERE analysis_id = :id AND state = :processing AND attempt = :attempt"
            " AND (time_started IS NOT NULL OR lease_expires_at IS NOT NULL)",
            {"id": analysis_id, "attempt": attempt, "now": self._db.encode_time(now), "processing": _PROCESSING},
        )
        return changed > 0

    def _settle(
        self, analysis_id: str, attempt: int | None, now: datetime, *, state: AnalysisState, **columns: Any
    ) -> bool:
        """End a PROCESSING analysis (in run `attempt` unless None) in one compare-and-set UPDATE."""
        where = _Where()
        where.add("analysis_id = :id", id=analysis_id)
        where.add("state = :processing", processing=_PROCESSING)
        if attempt is not None:
            where.add("attempt = :attempt", attempt=attempt)
        sets = ", ".join(f"{column} = :{column}" for column in columns)
        params = where.params | columns | {"state": state.value, "now": self._db.encode_time(now)}
        sql = (
            f"UPDATE analyses SET state = :state, {sets}, lease_expires_at = NULL, time_finished = :now,"
            f" time_updated = :now WHERE {where.sql}"
        )
        return self._db.execute(sql, params) > 0

    def update_analysis_meta(self, analysis_id: str, meta_data: dict[str, Any]) -> Analysis | None:
        rows = self._db.fetch(
            "UPDATE analyses SET meta_data = :meta_data, time_updated = :now WHERE analysis_id = :id RETURNING *",
            {"id": analysis_id, "meta_data": self._db.encode_json(meta_data), "now": self._now()},
        )
        return _ANALYSES.decode(self._db, rows[0]) if rows else None

    def list_stuck_analyses(
        self, *, started_before: datetime, queued_before: datetime, now: datetime
    ) -> list[Analysis]:
        # An analysis never queued explicitly counts as queued when it was created.
        rows = self._db.fetch(
            "SELECT * FROM analyses WHERE state = :processing AND (time_started < :started_before"
            " OR lease_expires_at < :now"
            " OR (time_started IS NULL AND COALESCE(time_queued, time_created) < :queued_before))"
            " ORDER BY time_created, analysis_id",
            {
                "processing": _PROCESSING,
                "started_before": self._db.encode_time(started_before),
                "queued_before": self._db.encode_time(queued_before),
                "now": self._db.encode_time(now),
            },
        )
        return [_ANALYSES.decode(self._db, row) for row in rows]

    def list_unleased_waiting_analyses(self, *, queued_before: datetime) -> list[Analysis]:
        rows = self._db.fetch(
            "SELECT * FROM analyses WHERE state = :processing AND time_started IS NULL AND lease_expires_at IS NULL"
            " AND COALESCE(time_queued, time_created) < :queued_before ORDER BY time_created, analysis_id",
            {"processing": _PROCESSING, "queued_before": self._db.encode_time(queued_before)},
        )
        return [_ANALYSES.decode(self._db, row) for row in rows]

    def list_analysis_timings(
        self,
        *,
        finished_from: datetime,
        finished_to: datetime,
        company_id: str | None = None,
        user_id: str | None = None,
    ) -> list[AnalysisTiming]:
        where = _Where()
        where.add(
            "a.time_finished >= :finished_from AND a.time_finished < :finished_to",
            finished_from=self._db.encode_time(finished_from),
            finished_to=self._db.encode_time(finished_to),
        )
        if company_id is not None:
            where.add("f.company_id = :company_id", company_id=company_id)
        if user_id is not None:
            where.add("f.user_id = :user_id", user_id=user_id)
        rows = self._db.fetch(
            "SELECT a.type, a.state, a.resolution_status, a.time_created, a.time_started, a.time_finished"
            f" FROM analyses a JOIN folders f ON f.folder_id = a.folder_id WHERE {where.sql}"
            " ORDER BY a.time_finished, a.analysis_id",
            where.params,
        )
        decode = self._db.decode_time
        return [
            AnalysisTiming(
                type=row["type"],
                state=AnalysisState(row["state"]),
                resolution_status=Resolution(row["resolution_status"]),
                time_created=decode(row["time_created"]),
                time_started=decode(row["time_started"]) if row["time_started"] is not None else None,
                time_finished=decode(row["time_finished"]),
            )
            for row in rows
        ]

    # Operator decisions ---------------------------------------------------------------------------
    def decide_analysis(self, decision: OperatorDecision) -> OperatorDecision | None:
        with self.transaction(), self._constraints(unique="The decision already exists", missing="The analysis"):
            changed = self._db.execute(
                "UPDATE analyses SET resolution_status = :new, time_updated = :now"
                " WHERE analysis_id = :id AND folder_id = :folder_id AND state = :finished"
                " AND resolution_status = :old",
                {
                    "id": decision.analysis_id,
                    "folder_id": decision.folder_id,
                    "finished": AnalysisState.FINISHED.value,
                    "old": decision.old_resolution.value,
                    "new": decision.new_resolution.value,
                    "now": self._now(),
                },
            )
            return self._insert(_DECISIONS, decision) if changed else None

    def list_decisions(self, folder_id: str) -> list[OperatorDecision]:
        return self._select(_DECISIONS, "folder_id = :folder_id", {"folder_id": folder_id}, "time_created, decision_id")

    # Capture sessions -----------------------------------------------------------------------------
    def create_capture_session(self, session: CaptureSession) -> CaptureSession:
        with self._constraints(unique="The capture session already exists", missing="The folder"):
            return self._insert(_CAPTURES, session)

    def get_capture_session(self, token_hash: str) -> CaptureSession | None:
        return self._find_one(_CAPTURES, "token_hash", token_hash)

    def use_capture_session(self, session_id: str, now: datetime, media_id: str, report: dict[str, Any]) -> bool:
        changed = self._db.execute(
            "UPDATE capture_sessions SET time_used = :now, media_id = :media_id, report = :report"
            " WHERE session_id = :id AND time_used IS NULL AND expires_at > :now",
            {
                "id": session_id,
                "now": self._db.encode_time(now),
                "media_id": media_id,
                "report": self._db.encode_json(report),
            },
        )
        return bool(changed)

    # Webhook deliveries ---------------------------------------------------------------------------
    def create_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        with self._constraints(unique="The delivery already exists", missing="The folder"):
            return self._insert(_DELIVERIES, delivery)

    def get_delivery(self, delivery_id: str) -> WebhookDelivery | None:
        return self._get(_DELIVERIES, delivery_id)

    def update_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        return self._update(_DELIVERIES, delivery)

    def list_deliveries(self, folder_id: str) -> list[WebhookDelivery]:
        return self._select(
            _DELIVERIES, "folder_id = :folder_id", {"folder_id": folder_id}, "time_created, delivery_id"
        )

    def list_due_deliveries(self, now: datetime, limit: int = 100) -> list[WebhookDelivery]:
        """A PENDING delivery without `next_attempt_at` is due at once."""
        return self._select(
            _DELIVERIES,
            "status = :pending AND (next_attempt_at IS NULL OR next_attempt_at <= :now)",
            {"pending": DeliveryStatus.PENDING.value, "now": self._db.encode_time(now)},
            "COALESCE(next_attempt_at, time_created), delivery_id",
            limit=limit,
        )

    # Hosts ----------------------------------------------------------------------------------------
    def report_host(
        self,
        hostname: str,
        *,
        bundle_id: str | None,
        bundle_version: int | None,
        models: dict[str, str],
        now: datetime | None = None,
    ) -> HostReport:
        if not hostname:
            raise ValueError("a host report needs a hostname")
        rows = self._db.fetch(
            "INSERT INTO hosts (hostname, bundle_id, bundle_version, models, time_updated)"
            " VALUES (:hostname, :bundle_id, :bundle_version, :models, :now)"
            " ON CONFLICT (hostname) DO UPDATE SET bundle_id = excluded.bundle_id,"
            " bundle_version = excluded.bundle_version, models = excluded.models, time_updated = excluded.time_updated"
            " RETURNING *",
            {
                "hostname": hostname,
                "bundle_id": bundle_id,
                "bundle_version": bundle_version,
                "models": self._db.encode_json(dict(models)),
                "now": self._db.encode_time(now) if now is not None else self._now(),
            },
        )
        return self._host(rows[0])

    def list_hosts(self) -> list[HostReport]:
        return [self._host(row) for row in self._db.fetch("SELECT * FROM hosts ORDER BY hostname")]

    def _host(self, row: Row) -> HostReport:
        return HostReport(
            hostname=row["hostname"],
            bundle_id=row["bundle_id"],
            bundle_version=row["bundle_version"],
            models=self._db.decode_json(row["models"]),
            time_updated=self._db.decode_time(row["time_updated"]),
        )

    def beat_host_part(
        self,
        hostname: str,
        part: str,
        pid: int,
        *,
        role: str | None,
        time_started: datetime,
        now: datetime,
        forget_before: datetime,
    ) -> HostPart:
        if not hostname or not part:
            raise ValueError("a host part needs a hostname and a part")
        with self._db.transaction():
            rows = self._db.fetch(
                "INSERT INTO host_parts (hostname, part, pid, role, time_started, time_seen)"
                " VALUES (:hostname, :part, :pid, :role, :started, :now)"
                " ON CONFLICT (hostname, part, pid) DO UPDATE SET role = excluded.role,"
                " time_started = excluded.time_started, time_seen = excluded.time_seen"
                " RETURNING *",
                {
                    "hostname": hostname,
                    "part": part,
                    "pid": pid,
                    "role": role,
                    "started": self._db.encode_time(time_started),
                    "now": self._db.encode_time(now),
                },
            )
            self._db.execute(
                "DELETE FROM host_parts WHERE hostname = :hostname AND part = :part AND pid <> :pid"
                " AND time_seen < :before",
                {"hostname": hostname, "part": part, "pid": pid, "before": self._db.encode_time(forget_before)},
            )
        return self._host_part(rows[0])

    def list_host_parts(self) -> list[HostPart]:
        rows = self._db.fetch("SELECT * FROM host_parts ORDER BY hostname, part, pid")
        return [self._host_part(row) for row in rows]

    def step_down_others(self, hostname: str, part: str, pid: int, *, role: str, instead: str) -> int:
        return self._db.execute(
            "UPDATE host_parts SET role = :instead WHERE part = :part AND role = :role"
            " AND NOT (hostname = :hostname AND pid = :pid)",
            {"hostname": hostname, "part": part, "pid": pid, "role": role, "instead": instead},
        )

    def delete_host_parts_before(self, before: datetime) -> int:
        return self._db.execute(
            "DELETE FROM host_parts WHERE time_seen < :before", {"before": self._db.encode_time(before)}
        )

    def _host_part(self, row: Row) -> HostPart:
        return HostPart(
            hostname=row["hostname"],
            part=row["part"],
            pid=row["pid"],
            role=row["role"],
            time_started=self._db.decode_time(row["time_started"]),
            time_seen=self._db.decode_time(row["time_seen"]),
        )

    # Queue depths ---------------------------------------------------------------------------------
    def record_queue_depths(self, depths: Mapping[str, int], time_sampled: datetime) -> None:
        if not depths:
            return
        params: dict[str, Any] = {"time_sampled": self._db.encode_time(time_sampled)}
        rows = []
        for i, (queue, depth) in enumerate(depths.items()):
            rows.append(f"(:time_sampled, :queue_{i}, :depth_{i})")
            params.update({f"queue_{i}": queue, f"depth_{i}": depth})
        self._db.execute(
            f"INSERT INTO queue_depth_samples (time_sampled, queue, depth) VALUES {', '.join(rows)}", params
        )

    def list_queue_depth_peaks(self, bounds: Sequence[datetime]) -> list[QueueDepthPeak]:
        # One query for every bucket: the buckets are a VALUES table joined to the samples, so
        # the database reads each sample once (through the key's time order) and returns one
        # row per bucket and queue, however many samples a long period holds.
        buckets = list(itertools.pairwise(bounds))
        if not buckets:
            return []
        params: dict[str, Any] = {}
        rows = []
        for i, (start, end) in enumerate(buckets):
            rows.append(f"(:bucket_{i}, :start_{i}, :end_{i})")
            params.update(
                {f"bucket_{i}": i, f"start_{i}": self._db.encode_time(start), f"end_{i}": self._db.encode_time(end)}
            )
        found = self._db.fetch(
            f"WITH buckets (bucket, time_start, time_end) AS (VALUES {', '.join(rows)})"
            " SELECT b.bucket, s.queue, MAX(s.depth) AS depth FROM buckets b"
            " JOIN queue_depth_samples s ON s.time_sampled >= b.time_start AND s.time_sampled < b.time_end"
            " GROUP BY b.bucket, s.queue ORDER BY b.bucket, s.queue",
            params,
        )
        return [
            QueueDepthPeak(bucket_start=buckets[row["bucket"]][0], queue=row["queue"], depth=row["depth"])
            for row in found
        ]

    def delete_queue_depths_before(self, before: datetime) -> int:
        return self._db.execute(
            "DELETE FROM queue_depth_samples WHERE time_sampled < :before", {"before": self._db.encode_time(before)}
        )

    # Login throttling -----------------------------------------------------------------------------
    def login_blocked_until(self, keys: Sequence[LoginKey], now: datetime) -> datetime | None:
        if not keys:
            return None
        params: dict[str, Any] = {"now": self._db.encode_time(now)}
        pairs = []
        for i, key in enumerate(keys):
            pairs.append(f"(account = :account_{i} AND address = :address_{i})")
            params.update({f"account_{i}": key.account, f"address_{i}": key.address})
        rows = self._db.fetch(
            f"SELECT MAX(blocked_until) AS until FROM login_failures WHERE ({' OR '.join(pairs)})"
            " AND blocked_until > :now",
            params,
        )
        until = rows[0]["until"]
        return self._db.decode_time(until) if until is not None else None

    def record_login_failure(self, key: LoginKey, now: datetime, restart_before: datetime) -> int:
        rows = self._db.fetch(
            "INSERT INTO login_failures (account, address, failures, last_failure)"
            " VALUES (:account, :address, 1, :now)"
            " ON CONFLICT (account, address) DO UPDATE SET failures = CASE"
            " WHEN login_failures.last_failure < :restart_before THEN 1 ELSE login_failures.failures + 1 END,"
            " last_failure = excluded.last_failure"
            " RETURNING failures",
            {
                "account": key.account,
                "address": key.address,
                "now": self._db.encode_time(now),
                "restart_before": self._db.encode_time(restart_before),
            },
        )
        failures: int = rows[0]["failures"]
        return failures

    def block_login(self, key: LoginKey, until: datetime) -> None:
        self._db.execute(
            "UPDATE login_failures SET blocked_until = :until WHERE account = :account AND address = :address"
            " AND (blocked_until IS NULL OR blocked_until < :until)",
            {"account": key.account, "address": key.address, "until": self._db.encode_time(until)},
        )

    def clear_login_failures(self, key: LoginKey) -> None:
        self._db.execute(
            "DELETE FROM login_failures WHERE account = :account AND address = :address",
            {"account": key.account, "address": key.address},
        )

    def unlock_account(self, account: str) -> int:
        if not account:
            raise ValueError("an account to unlock is needed (an empty one is every address's own count)")
        return self._db.execute("DELETE FROM login_failures WHERE account = :account", {"account": account})

    def delete_login_failures_before(self, before: datetime) -> int:
        return self._db.execute(
            "DELETE FROM login_failures WHERE last_failure < :before"
            " AND (blocked_until IS NULL OR blocked_until < :before)",
            {"before": self._db.encode_time(before)},
        )

    # Building blocks ------------------------------------------------------------------------------
    def _now(self) -> Any:
        return self._db.encode_time(datetime.now(UTC))

    def _insert(self, table: _Table[E], entity: E) -> E:
        values = table.encode(self._db, entity)
        if "time_created" in values:
            values["time_created"] = values["time_created"] or self._now()
        if "time_updated" in values:
            values["time_updated"] = values["time_updated"] or values["time_created"]
        columns = list(values)
        placeholders = [f":{column}" for column in columns]
        if table.sequenced:
            columns.append("seq")
            placeholders.append(f"(SELECT COALESCE(MAX(seq), 0) + 1 FROM {table.name} WHERE folder_id = :folder_id)")
        rows = self._db.fetch(
            f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(placeholders)}) RETURNING *", values
        )
        return table.decode(self._db, rows[0])

    def _update(self, table: _Table[E], entity: E) -> E:
        values = table.encode(self._db, entity)
        params = {column: values[column] for column in table.mutable}
        params |= {"key": values[table.key], "time_updated": self._now()}
        sets = ", ".join(f"{column} = :{column}" for column in (*table.mutable, "time_updated"))
        rows = self._db.fetch(f"UPDATE {table.name} SET {sets} WHERE {table.key} = :key RETURNING *", params)
        if not rows:
            raise AppError(ErrorCode.NOT_EXIST, f"No {table.key} {values[table.key]!r}")
        return table.decode(self._db, rows[0])

    def _get(self, table: _Table[E], key: str) -> E | None:
        return self._find_one(table, table.key, key)

    def _find_one(self, table: _Table[E], column: str, value: Any) -> E | None:
        found = self._select(table, f"{column} = :value", {"value": value})
        return found[0] if found else None

    def _select(
        self,
        table: _Table[E],
        where: str,
        params: Mapping[str, Any],
        order: str | None = None,
        *,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[E]:
        sql = f"SELECT * FROM {table.name} WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        if limit is not None:
            _check_page(offset, limit)
            sql += " LIMIT :limit OFFSET :offset"
            params = {**params, "limit": limit, "offset": offset}
        return [table.decode(self._db, row) for row in self._db.fetch(sql, params)]

    def _page(self, table: _Table[E], where: _Where, order: str, offset: int, limit: int) -> tuple[list[E], int]:
        """One page of the matching rows, and how many match in all."""
        page = self._select(table, where.sql, where.params, order, limit=limit, offset=offset)
        total = int(self._db.fetch(f"SELECT COUNT(*) AS n FROM {table.name} WHERE {where.sql}", where.params)[0]["n"])
        return page, total

    def _of_folders(self, table: _Table[F], folder_ids: Sequence[str], where: _Where) -> dict[str, list[F]]:
        """Rows of several folders in one query, each folder's in `seq` order."""
        grouped: dict[str, list[F]] = {folder_id: [] for folder_id in folder_ids}
        where.among("folder_id", list(grouped), name="folder_id")
        for item in self._select(table, where.sql, where.params, f"folder_id, seq, {table.key}"):
            grouped[item.folder_id].append(item)
        return grouped

    def _delete(self, table: _Table[Any], key: str) -> int:
        return self._db.execute(f"DELETE FROM {table.name} WHERE {table.key} = :key", {"key": key})

    @contextmanager
    def _constraints(self, *, unique: str = "", missing: str = "", reference: AppError | None = None) -> Iterator[None]:
        """Report a violated constraint as AppError: CONFLICT for `unique`, NOT_EXIST (or
        `reference`) for a foreign key."""
        try:
            yield
        except self._db.integrity_error as error:
            kind = self._db.constraint_kind(error)
            if kind == "unique":
                raise AppError(ErrorCode.CONFLICT, unique or "The record already exists") from error
            if kind == "foreign_key":
                raise reference or AppError(
                    ErrorCode.NOT_EXIST, f"{missing or 'A referenced record'} does not exist"
                ) from error
            raise


def _values(items: Sequence[Enum] | None) -> list[Any] | None:
    return None if items is None else [item.value for item in items]
