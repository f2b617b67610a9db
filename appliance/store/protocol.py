"""The Store: every read and write of the appliance's records, whatever database holds them.

`open_store(url)` in `appliance.store` returns an object with this interface for a SQLite or a
PostgreSQL URL; the contract tests in tests/store run the same cases against both. The store
speaks in domain entities; it never sees HTTP, files or queues.

Calls are synchronous and safe from several threads. Inside `with store.transaction():` every
call made by the same thread belongs to one transaction (nested blocks join the outer one);
outside, each call commits on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from appliance.domain.capture import CaptureSession
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
from appliance.domain.errors import AppError, ErrorCode
from appliance.store.backend import Backend

__all__ = [
    "AnalysisFilter",
    "AnalysisTiming",
    "FolderFilter",
    "HostPart",
    "HostReport",
    "LoginKey",
    "MetaCondition",
    "QueueDepthPeak",
    "Store",
]


T = TypeVar("T")


class HostReport(msgspec.Struct, frozen=True, kw_only=True):
    """What one host (API or worker process) last reported of its model store."""

    hostname: str
    bundle_id: str | None
    bundle_version: int | None
    models: dict[str, str]
    time_updated: datetime


class HostPart(msgspec.Struct, frozen=True, kw_only=True):
    """One process of the appliance as it last registered: its host, its part (`api`,
    `worker:<queue>`, `scheduler`), its process id, its role (a scheduler's `leader` or `standby`;
    None for the other parts), when it started and when it was last seen (its heartbeat)."""

    hostname: str
    part: str
    pid: int
    role: str | None
    time_started: datetime
    time_seen: datetime


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


class LoginKey(msgspec.Struct, frozen=True):
    """What failed logins are counted under: a source address alone (`account` empty), or an
    account (the sha256 of its email, lower case) from that address."""

    account: str
    address: str


class MetaCondition(msgspec.Struct, frozen=True):
    """`meta_data` filter: the top-level key `key` compared as text with `value`."""

    key: str
    op: Literal["==", "!="]
    value: str

    @classmethod
    def parse(cls, text: str) -> MetaCondition:
        """A filter written `key==value` or `key!=value`; INVALID_VALUE otherwise."""
        for op in ("==", "!="):
            key, sep, value = text.partition(op)
            if sep and key.strip():
                return cls(key=key.strip(), op=op, value=value)
        raise AppError(ErrorCode.INVALID_VALUE, f"meta_data filter must be key==value or key!=value, got {text!r}")


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

    def run_transaction(self, work: Callable[[], T], *, idempotent: bool = False) -> T:
        """`work()` in one transaction (joining the thread's open one, if any), and what it returns.

        Where the database goes away under it (a primary switch) and the transaction rolled back,
        it is run again, with back-off, for as long as the store keeps trying; work that may run
        twice (`idempotent`) also where the connection was lost at the commit. Then, or otherwise,
        `DatabaseUnavailable` (SERVICE_UNAVAILABLE). `work` must touch nothing but the store.
        """

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

    def list_unresolved_folder_ids(self, *, ended_before: datetime) -> list[str]:
        """PROCESSING folders with analyses, every one of which ended before `ended_before`: their
        resolution is overdue."""

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

    def media_present(self, *, media_ids: Sequence[str] = (), sha256s: Sequence[str] = ()) -> tuple[set[str], set[str]]:
        """Which of `media_ids` name a media row, and which of `sha256s` a media row points at."""

    # Analyses -------------------------------------------------------------------------------------
    def create_analysis(self, analysis: Analysis) -> Analysis: ...

    def get_analysis(self, analysis_id: str) -> Analysis | None: ...

    def list_analyses(self, folder_id: str, flt: AnalysisFilter | None = None) -> list[Analysis]:
        """Analyses of a folder in creation order."""

    def list_analyses_of_folders(self, folder_ids: Sequence[str]) -> dict[str, list[Analysis]]: ...

    def start_analysis(self, analysis_id: str, now: datetime, lease_until: datetime | None = None) -> int | None:
        """Mark a run as started: attempt += 1, time_started = now, lease_expires_at = `lease_until`.
        Returns the new attempt number, or None when the analysis is no longer PROCESSING
        (finished, failed or deleted)."""

    def renew_lease(self, analysis_id: str, attempt: int, until: datetime) -> bool:
        """Extend the lease of run `attempt` to `until`, only if that run is still the one in hand
        (PROCESSING, started, same attempt). True if written."""

    def lease_unstarted(self, analysis_id: str, attempt: int, until: datetime) -> bool:
        """Give a never-started analysis without a lease one until `until` (its task is in no queue:
        a worker may be about to start it). Only if still so in `attempt`. True if written."""

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
        """Give up on run `attempt` (its worker died or hung) or on a lost task (never started, with a
        lease): time_started = None, lease_expires_at = None, time_queued = now. Only if still
        PROCESSING in that attempt, started or leased. True if written."""

    def update_analysis_meta(self, analysis_id: str, meta_data: dict) -> Analysis | None: ...

    def list_stuck_analyses(
        self, *, started_before: datetime, queued_before: datetime, now: datetime
    ) -> list[Analysis]:
        """PROCESSING analyses started before `started_before`, or whose lease lapsed before `now`,
        or never started and queued before `queued_before`."""

    def list_unleased_waiting_analyses(self, *, queued_before: datetime) -> list[Analysis]:
        """PROCESSING analyses never started, without a lease, queued before `queued_before`."""

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

    # Capture sessions -----------------------------------------------------------------------------
    def create_capture_session(self, session: CaptureSession) -> CaptureSession: ...

    def get_capture_session(self, token_hash: str) -> CaptureSession | None:
        """The session whose token has this sha256."""

    def use_capture_session(self, session_id: str, now: datetime, media_id: str, report: dict[str, Any]) -> bool:
        """Record the session's recording, only if it is unused and unexpired at `now` (compare-and-set:
        of two uploads one wins). True if written."""

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
        """Record that process `pid` of `hostname` runs `part` in `role`, seen at `now` (insert or
        refresh its row), and forget the rows of the same host and part that were not seen since
        `forget_before` (an earlier process of that part, which this one replaces)."""

    def list_host_parts(self) -> list[HostPart]:
        """Every registered process, by hostname, part and process id."""

    def step_down_others(self, hostname: str, part: str, pid: int, *, role: str, instead: str) -> int:
        """Record every other process of `part` registered in `role` as in `instead` (a scheduler that
        took the lead: the former leader died or lost its lock); how many rows changed."""

    def delete_host_parts_before(self, before: datetime) -> int:
        """Forget the processes not seen since `before` (retired hosts); how many rows went."""

    # Queue depths ---------------------------------------------------------------------------------
    def record_queue_depths(self, depths: Mapping[str, int], time_sampled: datetime) -> None:
        """Record one sample: the tasks waiting in each queue at `time_sampled`."""

    def list_queue_depth_peaks(self, bounds: Sequence[datetime]) -> list[QueueDepthPeak]:
        """The highest depth sampled of each queue in each bucket `bounds[i]` (included) to
        `bounds[i + 1]` (excluded), by bucket then queue; `bucket_start` is `bounds[i]` itself.
        A bucket in which a queue has no sample has no peak for it."""

    def delete_queue_depths_before(self, before: datetime) -> int:
        """Delete the samples taken before `before` (retention); how many rows went."""

    # Login throttling -----------------------------------------------------------------------------
    def login_blocked_until(self, keys: Sequence[LoginKey], now: datetime) -> datetime | None:
        """The latest time after `now` until which any of `keys` is blocked; None if none is."""

    def record_login_failure(self, key: LoginKey, now: datetime, restart_before: datetime) -> int:
        """Count a failed login under `key` at `now`, starting again at 1 when the last one was
        before `restart_before`; the count. Concurrent calls each count."""

    def block_login(self, key: LoginKey, until: datetime) -> None:
        """Block `key` until `until`, unless it already is until later."""

    def clear_login_failures(self, key: LoginKey) -> None:
        """Forget `key`'s failures (a login that succeeded)."""

    def unlock_account(self, account: str) -> int:
        """Forget the failures of `account` from every address; how many addresses it had."""

    def delete_login_failures_before(self, before: datetime) -> int:
        """Delete the rows whose last failure and block both ended before `before` (retention)."""
