"""Request bodies, typed with msgspec. Field names follow the Oz API."""

from __future__ import annotations

from typing import Any

import msgspec

from appliance.domain.enums import Role

__all__ = [
    "AnalysesIn",
    "AnalysisIn",
    "CompanyIn",
    "CompanyPatch",
    "Credentials",
    "DecisionIn",
    "FolderPayload",
    "LoginIn",
    "RefreshIn",
    "UserIn",
    "UserPatch",
]


class _Body(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Credentials(_Body):
    email: str
    password: str


class LoginIn(_Body):
    credentials: Credentials


class RefreshIn(_Body):
    expire_token: str


class AnalysisIn(_Body):
    """One analysis to start. `type` is case-insensitive; `source_media` defaults by the tag rules."""

    type: str
    source_media: list[str] | None = None
    params: dict[str, Any] = {}


class AnalysesIn(_Body):
    analyses: list[AnalysisIn]
    resolution_endpoint: str | None = None


class FolderPayload(_Body):
    """The `payload` part of a folder upload. With `analyses` it is a single request."""

    media_tags: dict[str, list[str]] = msgspec.field(default_factory=dict, name="media:tags")
    folder_meta_data: dict[str, Any] = msgspec.field(default_factory=dict, name="folder:meta_data")
    media_meta_data: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict, name="media:meta_data")
    analyses: list[AnalysisIn] | None = None
    resolution_endpoint: str | None = None
    #: What a capture SDK says about its environment; kept in the folder's technical_meta_data.
    additional_info: Any = None


class CaptureSessionIn(_Body):
    """A capture session to open: the analysis types to run on its recording (QUALITY always)."""

    analyses: list[str] | None = None


class DecisionIn(_Body):
    """An operator's decision on a folder that waits for one: SUCCESS or DECLINED, and why."""

    resolution: str
    comment: str


class CompanyIn(_Body):
    name: str
    webhook_url: str | None = None
    meta_data: dict[str, Any] = {}


class CompanyPatch(_Body):
    name: str | None = None
    webhook_url: str | None = None
    meta_data: dict[str, Any] | None = None


class UserIn(_Body):
    email: str
    password: str
    user_type: Role = Role.CLIENT
    first_name: str = ""
    last_name: str = ""
    middle_name: str = ""
    company_id: str | None = None
    is_admin: bool = False
    is_service: bool = False
    can_start_analysis_quality: bool = True
    can_start_analysis_biometry: bool = True
    can_start_analysis_collection: bool = True
    can_start_analysis_documents: bool = True
    meta_data: dict[str, Any] = {}


class UserPatch(_Body):
    email: str | None = None
    password: str | None = None
    user_type: Role | None = None
    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    company_id: str | None = None
    is_admin: bool | None = None
    is_service: bool | None = None
    is_active: bool | None = None
    can_start_analysis_quality: bool | None = None
    can_start_analysis_biometry: bool | None = None
    can_start_analysis_collection: bool | None = None
    can_start_analysis_documents: bool | None = None
    meta_data: dict[str, Any] | None = None
