"""Analyses: `/api/analyses/{id}` and its meta_data."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.di import Provide
from litestar.params import FromPath

from appliance.api.security import CurrentUser
from appliance.core.providers import Services
from appliance.core.services import AppServices
from appliance.domain import policy
from appliance.domain.entities import Analysis, Folder, User
from appliance.domain.errors import AppError, ErrorCode
from appliance.web.meta import MetaData, MetaDataRoutes
from appliance.web.requests import found
from appliance.wire import analysis_to_wire


def _readable(services: AppServices, user: User, analysis_id: str) -> tuple[Analysis, Folder]:
    """The analysis and its folder if `user` may see the folder; NOT_EXIST otherwise."""
    analysis = services.store.get_analysis(analysis_id)
    folder = services.store.get_folder(analysis.folder_id) if analysis else None
    folder = found(folder, lambda f: policy.can_read_folder(user, f), "analysis")
    assert analysis is not None
    return analysis, folder


class AnalysisController(Controller):
    path = "/api/analyses"
    tags = ["analyses"]

    @get("/{analysis_id:str}", sync_to_thread=True, summary="One analysis (poll it until it leaves PROCESSING)")
    def get_analysis(self, services: Services, user: CurrentUser, analysis_id: FromPath[str]) -> dict[str, Any]:
        analysis, folder = _readable(services, user, analysis_id)
        media = {m.media_id: m for m in services.store.list_media(folder.folder_id)}
        return analysis_to_wire(analysis, media, services.urls)


def _writable(services: AppServices, user: User, analysis_id: str) -> Analysis:
    """The analysis if `user` may change its folder; NOT_EXIST or AUTH_FORBIDDEN otherwise."""
    analysis, folder = _readable(services, user, analysis_id)
    if not policy.can_write_folder(user, folder):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not change this analysis")
    return analysis


def _saved(services: AppServices, analysis: Analysis, meta: dict[str, Any]) -> dict[str, Any]:
    updated = services.store.update_analysis_meta(analysis.analysis_id, meta)
    return updated.meta_data if updated else {}


def _analysis_meta(services: Services, user: CurrentUser, analysis_id: FromPath[str]) -> MetaData[Analysis]:
    return MetaData(
        readable=lambda: _readable(services, user, analysis_id)[0],
        writable=lambda: _writable(services, user, analysis_id),
        save=lambda analysis, meta: _saved(services, analysis, meta),
    )


class AnalysisMetaDataController(MetaDataRoutes):
    path = "/api/analyses/{analysis_id:str}/meta_data"
    tags = ["analyses"]
    dependencies = {"meta_data": Provide(_analysis_meta, sync_to_thread=True)}
