"""The appliance's records, as plain dataclasses. The store reads and writes them; nothing here does I/O.

Times are timezone-aware UTC datetimes. IDs are UUID strings. `meta_data` is the caller's free JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appliance.domain.enums import AnalysisState, DeliveryStatus, FolderStatus, MediaKind, Resolution, Role

__all__ = ["Analysis", "Company", "Folder", "Media", "Session", "User", "WebhookDelivery"]

JSON = dict[str, Any]


@dataclass(slots=True)
class Company:
    company_id: str
    name: str
    webhook_secret: str
    webhook_url: str | None = None
    meta_data: JSON = field(default_factory=dict)
    time_created: datetime | None = None
    time_updated: datetime | None = None


@dataclass(slots=True)
class User:
    user_id: str
    email: str
    user_type: Role
    password_hash: str
    first_name: str = ""
    last_name: str = ""
    middle_name: str = ""
    company_id: str | None = None
    is_admin: bool = False
    is_service: bool = False
    is_active: bool = True
    can_start_analysis_quality: bool = True
    can_start_analysis_biometry: bool = True
    can_start_analysis_collection: bool = True
    can_start_analysis_documents: bool = True
    meta_data: JSON = field(default_factory=dict)
    time_created: datetime | None = None
    time_updated: datetime | None = None


@dataclass(slots=True)
class Session:
    """A login. Only hashes of its two tokens are stored; the tokens themselves go to the caller once."""

    session_id: str
    user_id: str
    access_token_hash: str
    expire_token_hash: str
    access_expires_at: datetime
    expire_token_expires_at: datetime
    time_created: datetime | None = None


@dataclass(slots=True)
class Folder:
    folder_id: str
    company_id: str | None
    user_id: str
    resolution_status: FolderStatus = FolderStatus.INITIAL
    system_resolution: Resolution = Resolution.INITIAL
    resolution_endpoint: str | None = None
    meta_data: JSON = field(default_factory=dict)
    technical_meta_data: JSON = field(default_factory=dict)
    time_created: datetime | None = None
    time_updated: datetime | None = None


@dataclass(slots=True)
class Media:
    """One uploaded file. The bytes live in the media storage under `sha256` (+ `extension`)."""

    media_id: str
    folder_id: str
    kind: MediaKind
    sha256: str
    extension: str
    mime_type: str
    size_bytes: int
    original_name: str = ""
    tags: list[str] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    duration_seconds: float | None = None
    has_thumbnail: bool = False
    has_preview: bool = False
    meta_data: JSON = field(default_factory=dict)
    time_created: datetime | None = None
    time_updated: datetime | None = None


@dataclass(slots=True)
class Analysis:
    """One analysis of a folder's media.

    `attempt` counts runs started by workers; a worker may only finish the attempt it started,
    so a run that outlived its expiry cannot overwrite the result of the retry that replaced it.
    `lease_expires_at` is when the run in hand is given up unless its worker renews the lease
    (docs/architecture.md, "Queues").
    """

    analysis_id: str
    folder_id: str
    type: str
    state: AnalysisState = AnalysisState.PROCESSING
    resolution_status: Resolution = Resolution.PROCESSING
    params: JSON = field(default_factory=dict)
    source_media: list[str] = field(default_factory=list)
    results_data: JSON = field(default_factory=dict)
    results_media: list[JSON] = field(default_factory=list)
    error_code: int | None = None
    error_message: str | None = None
    attempt: int = 0
    time_queued: datetime | None = None
    time_started: datetime | None = None
    lease_expires_at: datetime | None = None
    time_finished: datetime | None = None
    plugin: str | None = None
    plugin_version: str | None = None
    model_versions: dict[str, str] = field(default_factory=dict)
    meta_data: JSON = field(default_factory=dict)
    time_created: datetime | None = None
    time_updated: datetime | None = None


@dataclass(slots=True)
class WebhookDelivery:
    """One webhook call to make (or made) for a folder that reached a final status."""

    delivery_id: str
    folder_id: str
    url: str
    company_id: str | None
    event: str = "folder.finished"
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    time_created: datetime | None = None
    time_updated: datetime | None = None
