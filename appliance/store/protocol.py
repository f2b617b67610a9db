"""The Store: every read and write of the appliance's records, whatever database holds them.

`open_store(url)` in `appliance.store` returns an object with this interface for a SQLite or a
PostgreSQL URL; the contract tests in tests/store run the same cases against both. The store
speaks in domain entities; it never sees HTTP, files or queues.

Calls are synchronous and safe from several threads. Inside `with store.transaction():` every
call made by the same thread belongs to one transaction (nested blocks join the outer one);
outside, each call commits on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Literal, Protocol

import msgspec

from appliance.domain.decisions import OperatorDecision
from appliance.domain.entities import (
    Analysis,
    Company,
    Folder,
    Media,
    Session,
    User,
    WebhookDelivery,
)
from appliance.domain.enums import AnalysisState, FolderStatus, Resolution
from appliance.store.backend import Backend

__all__ = [
    "AnalysisFilter",
    "AnalysisTiming",
    "FolderFilter",
    "HostReport",
    "MetaCondition",
    "QueueDepthPeak",
    "Store",
]


class HostReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one host (API or worker process) last reported of its model store."""

    hostname: str
    bundle_id: str | None
    bundle_version: int | None
    models: dict[str, str]
    time_updated: datetime


class AnalysisTiming(msgspec.Struct, frozen=True, kw_only=True):
    """What statistics read of an analysis that ended: its type, outcome and times."""

    type: str
    state: AnalysisState
    resolution_status: Resolution
    time_created: datetime
    time_started: datetime | None
    time_finished: datetime


class QueueDepthPeak(msgspec.Struct, frozen=True, kw_only=True):
    """The highest depth sampled of one queue within one bucket of time (the console's statistics)."""

    bucket_start: datetime
    queue: str
    depth: int


class MetaCondition(msgspec.Struct, frozen=True):
    """`meta_data` filter: the top-level key `key` compared as text with `value`."""

    key: str
    op: Literal["==", "!="]
    value: str


class FolderFilter(msgspec.Struct, kw_only=True):
    company_id: str | None = None
    user_id: str | None = None
    folder_ids: list[str] | None = None
    resolution_status: list[FolderStatus | Resolution] | None = None
    """Matches a folder's `resolution_status` or its `system_resolution` (the Oz list merges both)."""
    statuses: list[FolderStatus] | None = None
    """Matches `resolution_status` alone."""
    resolutions: list[Resolution] | None = None
    """Matches `system_resolution` alone."""
    time_created_min: datetime | None = None
    time_created_max: datetime | None = None
    time_updated_min: datetime | None = None
    time_updated_max: datetime | None = None
    meta_data: list[MetaCondition] = []
    sort_field: Literal["time_created", "time_updated"] = "time_created"
    sort_desc: bool = True
    offset: int = 0
    limit: int = 100


class AnalysisFilter(msgspec.Struct, kw_only=True):
    analysis_ids: list[str] | None = None
    exclude_analysis_ids: list[str] | None = None
    types: list[str] | None = None
    exclude_types: list[str] | None = None
    states: list[AnalysisState] | None = None
    exclude_states: list[AnalysisState] | None = None


class Store(Protocol):
    # Lifecycle ------------------------------------------------------------------------------------
    @property
    def dialect(self) -> str:
        """`sqlite` or `postgres`: which migrations (the appliance's and plugins') this database takes."""

    @property
    def backend(self) -> Backend:
        """The SQL backend underneath, lent to plugins for their own tables (`appliance.sdk.PluginDatabase`)."""

    def migrate(self, extra: Sequence[tuple[str, str]] = ()) -> list[str]:
        """Apply the migrations not yet applied, the appliance's and then `extra` (plugins'
        `(name, sql)` steps, `PluginHost.migrations`); return their names. Safe to run concurrently."""

    def schema_version(self) -> str | None:
        """Name of the newest applied migration of the appliance itself, or None for an empty database."""

    def ping(self) -> None:
        """Raise if the database does not answer."""

    def transaction(self) -> AbstractContextManager[None]: ...

    def close(self) -> None: ...

    # Companies ------------------------------------------------------------------------------------
    def create_company(self, company: Company) -> Company:
        """Insert; returns it with times set. Raises AppError(CONFLICT) if the name is taken."""

    def get_company(self, company_id: str) -> Company | None: ...

    def list_companies(
        self,
        *,
        search_text: str | None = None,
        company_ids: Sequence[str] | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Company], int]:
        """Page of companies (by name), case-insensitive substring search, and the total count."""

    def update_company(self, company: Company) -> Company: ...

    def delete_company(self, company_id: str) -> bool:
        """Delete a company with no users and no folders left. Raises AppError(CONFLICT) otherwise."""

    # Users ----------------------------------------------------------------------------------------
    def create_user(self, user: User) -> User:
        """Insert. Emails are unique regardless of case: AppError(CONFLICT) otherwise."""

    def get_user(self, user_id: str) -> User | None: ...

    def get_user_by_email(self, email: str) -> User | None:
        """Case-insensitive lookup."""

    def list_users(
        self, *, company_id: str | None = None, search_text: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[User], int]: ...

    def update_user(self, user: User) -> User: ...

    def delete_user(self, user_id: str) -> bool:
        """Delete the user and its sessions. Its folders stay (they belong to the company)."""

    # Sessions -------------------------------------------------------------------------------------
    def create_session(self, session: Session) -> Session: ...

    def get_session_by_access_hash(self, token_hash: str) -> Session | None: ...

    def get_session_by_expire_hash(self, token_hash: str) -> Session | None: ...

    def extend_session(self, session_id: str, access_expires_at: datetime) -> None: ...

    def delete_session(self, session_id: str) -> None: ...

    def delete_user_sessions(self, user_id: str) -> int: ...

    def delete_expired_sessions(self, now: datetime) -> int:
        """Drop sessions whose access and refresh tokens have both expired."""

    # Folders --------------------------------------------------------------------------------------
    def create_folder(self, folder: Folder) -> Folder: ...

    def get_folder(self, folder_id: str) -> Folder | None: ...

    def list_folders(self, flt: FolderFilter) -> tuple[list[Folder], int]:
        """A page of folders matching `flt`, and how many match in all."""

    def update_folder(self, folder: Folder) -> Folder:
        """Write meta_data, resolution_endpoint, statuses; sets time_updated."""

    def lock_folder(self, folder_id: str) -> bool:
        """Inside a transaction: hold the folder's row until it ends, so that two resolvers of
        the same folder take turns reading its analyses and writing its outcome. False if absent."""

    def set_folder_outcome(self, folder_id: str, status: FolderStatus, resolution: Resolution) -> bool:
        """Set both statuses; True if they changed (so only one resolver sends the webhook)."""

    def delete_folder(self, folder_id: str) -> list[Media]:
        """Delete the folder with its media, analyses and deliveries; return the media rows removed."""

    def list_folder_ids_created_before(self, before: datetime, limit: int = 500) -> list[str]:
        """Folders old enough for the retention clean-up, oldest first."""

    # Media ----------------------------------------------------------------------------------------
    def add_media(self, media: Media) -> Media: ...

    def get_media(self, media_id: str) -> Media | None: ...

    def list_media(self, folder_id: str) -> list[Media]:
        """Media of a folder in upload order."""

    def list_media_of_folders(self, folder_ids: Sequence[str]) -> dict[str, list[Media]]:
        """Media of many folders in one query (listing pages must not query per folder)."""

    def update_media(self, media: Media) -> Media: ...

    def delete_media(self, media_id: str) -> Media | None: ...

    def count_media_with_sha256(self, sha256: str) -> int:
        """How many media rows point at this stored file (a file is deleted at zero)."""

    # Analyses -------------------------------------------------------------------------------------
    def create_analysis(self, analysis: Analysis) -> Analysis: ...

    def get_analysis(self, analysis_id: str) -> Analysis | None: ...

    def list_analyses(self, folder_id: str, flt: AnalysisFilter | None = None) -> list[Analysis]:
        """Analyses of a folder in creation order."""

    def list_analyses_of_folders(self, folder_ids: Sequence[str]) -> dict[str, list[Analysis]]: ...

    def start_analysis(self, analysis_id: str, now: datetime) -> int | None:
        """Mark a run as started: attempt += 1, time_started = now. Returns the new attempt number,
        or None when the analysis is no longer PROCESSING (finished, failed or deleted)."""

    def finish_analysis(
        self,
        analysis_id: str,
        attempt: int,
        *,
        resolution: Resolution,
        results_data: dict,
        results_media: list[dict],
        plugin: str,
        plugin_version: str,
        model_versions: dict[str, str],
        now: datetime,
    ) -> bool:
        """FINISHED with a decision, only if still PROCESSING in `attempt`. True if written."""

    def fail_analysis(
        self, analysis_id: str, attempt: int | None, *, error_code: int, error_message: str, now: datetime
    ) -> bool:
        """FAILED with a reason, only if still PROCESSING (and in `attempt` unless None)."""

    def requeue_analysis(self, analysis_id: str, attempt: int, now: datetime) -> bool:
        """Give up on run `attempt` (its worker died or hung): time_started = None, time_queued = now.
        Only if still PROCESSING in that attempt. True if written."""

    def update_analysis_meta(self, analysis_id: str, meta_data: dict) -> Analysis | None: ...

    def list_stuck_analyses(self, *, started_before: datetime, queued_before: datetime) -> list[Analysis]:
        """PROCESSING analyses started before `started_before`, or never started and queued
        before `queued_before`."""

    def list_analysis_timings(
        self,
        *,
        finished_from: datetime,
        finished_to: datetime,
        company_id: str | None = None,
        user_id: str | None = None,
    ) -> list[AnalysisTiming]:
        """Analyses that ended (FINISHED or FAILED) at or after `finished_from` and before
        `finished_to`, of folders of `company_id` and `user_id` when given, by end time."""

    # Operator decisions ---------------------------------------------------------------------------
    def decide_analysis(self, decision: OperatorDecision) -> OperatorDecision | None:
        """Override a FINISHED analysis's result with `decision.new_resolution` and record the
        decision, in one transaction, only if the result is still `decision.old_resolution`
        (compare-and-set: of two racing decisions one wins). None if nothing was written."""

    def list_decisions(self, folder_id: str) -> list[OperatorDecision]:
        """The audit trail of a folder, oldest first."""

    # Webhook deliveries ---------------------------------------------------------------------------
    def create_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery: ...

    def get_delivery(self, delivery_id: str) -> WebhookDelivery | None: ...

    def update_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery: ...

    def list_deliveries(self, folder_id: str) -> list[WebhookDelivery]: ...

    def list_due_deliveries(self, now: datetime, limit: int = 100) -> list[WebhookDelivery]:
        """PENDING deliveries whose next_attempt_at is at or before `now`."""

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
        """Record (insert or replace) what `hostname` runs: its active bundle and model versions."""

    def list_hosts(self) -> list[HostReport]:
        """Every host that reported, by hostname."""

    # Queue depths ---------------------------------------------------------------------------------
    def record_queue_depths(self, depths: Mapping[str, int], time_sampled: datetime) -> None:
        """Record one sample: the tasks waiting in each queue at `time_sampled`."""

    def list_queue_depth_peaks(self, bounds: Sequence[datetime]) -> list[QueueDepthPeak]:
        """The highest depth sampled of each queue in each bucket `bounds[i]` (included) to
        `bounds[i + 1]` (excluded), by bucket then queue; `bucket_start` is `bounds[i]` itself.
        A bucket in which a queue has no sample has no peak for it."""

    def delete_queue_depths_before(self, before: datetime) -> int:
        """Delete the samples taken before `before` (retention); how many rows went."""
