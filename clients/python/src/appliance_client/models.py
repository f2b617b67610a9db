"""The API's documents as msgspec Structs: the request bodies the client sends and the documents it reads.

Field names are the wire's (Oz API). A document the appliance grows a field in still decodes (unknown
fields are skipped); the client's tests fail when the served API and these Structs drift apart.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

__all__ = [
    "AnalysesIn",
    "Analysis",
    "AnalysisIn",
    "AnalysisState",
    "CaptureSession",
    "CaptureSessionIn",
    "CaptureStep",
    "Credentials",
    "ErrorBody",
    "Folder",
    "FolderPayload",
    "FolderStatus",
    "HeldOutRates",
    "HostPart",
    "HostReport",
    "Liveness",
    "LoginIn",
    "Media",
    "MediaRule",
    "MediaType",
    "ModelInfo",
    "ModelSet",
    "OutputImage",
    "PluginInfo",
    "Resolution",
    "ResultMedia",
    "Role",
    "SchedulerState",
    "Tokens",
    "User",
    "Version",
]


class FolderStatus(StrEnum):
    """`resolution_status` of a folder: where its analyses are, not what they decided."""

    INITIAL = "INITIAL"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"
    FINISHED = "FINISHED"


class Resolution(StrEnum):
    """`resolution_status` of an analysis and `system_resolution` of a folder."""

    INITIAL = "INITIAL"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"
    SUCCESS = "SUCCESS"
    DECLINED = "DECLINED"
    OPERATOR_REQUIRED = "OPERATOR_REQUIRED"


class AnalysisState(StrEnum):
    """`state` of an analysis: PROCESSING, then FINISHED or FAILED."""

    PROCESSING = "PROCESSING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


class MediaType(StrEnum):
    IMAGE_FOLDER = "IMAGE_FOLDER"
    VIDEO_FOLDER = "VIDEO_FOLDER"
    SHOTS_SET = "SHOTS_SET"


class Role(StrEnum):
    ADMIN = "ADMIN"
    OPERATOR = "OPERATOR"
    CLIENT = "CLIENT"
    CLIENT_OPERATOR = "CLIENT_OPERATOR"


# Request bodies ---------------------------------------------------------------------------------


class _Body(msgspec.Struct, kw_only=True, omit_defaults=True):
    pass


class Credentials(_Body):
    email: str
    password: str


class LoginIn(_Body):
    credentials: Credentials


class AnalysisIn(_Body):
    """One analysis to start; without `source_media` it takes the media its tag rule accepts."""

    type: str
    source_media: list[str] | None = None
    params: dict[str, Any] = {}


class AnalysesIn(_Body):
    analyses: list[AnalysisIn]
    resolution_endpoint: str | None = None


class FolderPayload(_Body):
    """The `payload` part of a folder upload; with `analyses` the upload is a single request."""

    media_tags: dict[str, list[str]] = msgspec.field(default_factory=dict, name="media:tags")
    folder_meta_data: dict[str, Any] = msgspec.field(default_factory=dict, name="folder:meta_data")
    media_meta_data: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict, name="media:meta_data")
    analyses: list[AnalysisIn] | None = None
    resolution_endpoint: str | None = None
    additional_info: Any = None


class CaptureSessionIn(_Body):
    analyses: list[str] | None = None


# Documents --------------------------------------------------------------------------------------


class _Document(msgspec.Struct, kw_only=True):
    pass


class ErrorBody(_Document):
    """Every error's body (docs/errors.md): `error_code` is stable, `error_message` is for people."""

    error_code: int
    error_name: str
    error_message: str
    #: machine-readable facts (which media key, which limit), or null
    details: dict[str, Any] | list[Any] | None


class User(_Document):
    user_id: str
    email: str
    user_type: Role
    first_name: str
    last_name: str
    middle_name: str
    company_id: str | None
    is_admin: bool
    is_service: bool
    is_active: bool
    can_start_analysis_quality: bool
    can_start_analysis_biometry: bool
    can_start_analysis_collection: bool
    can_start_analysis_documents: bool
    meta_data: dict[str, Any]
    time_created: datetime
    time_updated: datetime


class Tokens(_Document):
    access_token: str
    expire_token: str
    expire_date: datetime
    expire_token_date: datetime
    user: User


class Media(_Document):
    media_id: str
    folder_id: str
    media_type: MediaType
    original_name: str
    tags: list[str]
    mime_type: str
    size_bytes: int
    width: int | None
    height: int | None
    frame_count: int | None
    duration_seconds: float | None
    original_url: str
    thumb_url: str | None
    preview_url: str | None
    meta_data: dict[str, Any]
    time_created: datetime
    time_updated: datetime
    #: a video's or shot set's `original_url` again, under the Oz API's name
    video_url: str | None = None


class OutputImage(_Document):
    name: str
    original_url: str


class ResultMedia(_Document):
    """An analysis's numbers for one of its source media."""

    source_media_id: str
    results_data: dict[str, Any] | None
    output_images: list[OutputImage]


class Analysis(_Document):
    analysis_id: str
    #: the same id under the Oz API's spelling
    analyse_id: str
    folder_id: str
    type: str
    state: AnalysisState
    resolution_status: Resolution
    resolution: Resolution
    params: dict[str, Any]
    source_media: list[Media]
    results_data: dict[str, Any] | None
    results_media: list[ResultMedia]
    error_code: int | None
    error_message: str | None
    attempts: int
    plugin: str | None
    plugin_version: str | None
    model_versions: dict[str, str] | None
    meta_data: dict[str, Any]
    #: null in the answer that starts the analysis (POST /api/folders/{id}/analyses)
    time_created: datetime | None
    time_updated: datetime | None
    time_started: datetime | None
    time_finished: datetime | None


class Folder(_Document):
    folder_id: str
    company_id: str | None
    user_id: str
    resolution_status: FolderStatus
    system_resolution: Resolution
    resolution_endpoint: str | None
    meta_data: dict[str, Any]
    technical_meta_data: dict[str, Any]
    time_created: datetime
    time_updated: datetime
    media: list[Media]
    #: present when the folder was read with its analyses
    analyses: list[Analysis] | None = None

    @property
    def is_final(self) -> bool:
        return self.resolution_status in (FolderStatus.FINISHED, FolderStatus.FAILED)


class PluginInfo(_Document):
    name: str
    version: str
    analysis_types: list[str]


class MediaRule(_Document):
    """The media an analysis type takes when the caller names none."""

    kinds: list[str]
    tag_prefixes: list[str]
    excluded_tags: list[str]
    min_count: int


class ModelInfo(_Document):
    name: str
    version: str
    task: str
    sha256: str


class HeldOutRates(_Document):
    """The liveness fusion's error rates on sources it never saw, as its recipe measured them
    (each source left out in turn): `apcer` per attack type."""

    sources: int
    bpcer: float
    apcer: dict[str, float]


class Liveness(_Document):
    pad_models: list[str]
    fusion: str | None
    pad_model_missing: bool
    decides_by: str
    held_out: HeldOutRates | None = None


class HostPart(_Document):
    """One process of a host: `part` is `api`, `worker:<queue>` or `scheduler` (whose `role` is
    `leader` or `standby`); `stale` when not seen for the document's `stale_after_seconds`."""

    part: str
    pid: int
    role: str | None
    time_started: datetime
    time_seen: datetime
    stale: bool


class HostReport(_Document):
    """A host: the model bundle it last reported (none for a host that runs no API or worker), its
    parts, when one of them was last seen, and `stale` when none was seen lately."""

    hostname: str
    bundle_id: str | None
    bundle_version: int | None
    models: dict[str, str]
    time_updated: datetime | None
    # Defaults: an appliance before the N-host release sends none of these.
    time_seen: datetime | None = None
    stale: bool = False
    parts: list[HostPart] = []


class SchedulerState(_Document):
    """The schedulers' election among the parts not stale: `leader` when exactly one leads."""

    leader: str | None
    leaders: list[str]
    standbys: list[str]


class ModelSet(_Document):
    consistent: bool
    problems: list[str]


class Version(_Document):
    app: str
    schema: str
    plugins: list[PluginInfo]
    media_rules: dict[str, MediaRule]
    models: list[ModelInfo]
    bundle: dict[str, Any] | None
    liveness: Liveness
    hosts: list[HostReport]
    model_set: ModelSet
    consistent: bool
    scheduler: SchedulerState | None = None
    stale_after_seconds: float | None = None

    @property
    def analysis_types(self) -> list[str]:
        """Every analysis type an installed plugin provides."""
        return [t for plugin in self.plugins for t in plugin.analysis_types]


class CaptureStep(_Document):
    gesture: str
    prompt: str
    start_s: float
    end_s: float


class CaptureSession(_Document):
    """An open capture session: its gestures and `capture_url`, the page a person records on."""

    session_id: str
    folder_id: str
    analyses: list[str]
    capture_url: str
    state: str
    expires_at: datetime
    steps: list[CaptureStep]
    recording_s: float
    lead_in_s: float
