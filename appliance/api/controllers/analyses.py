"""Analyses: `/api/analyses/{id}` and its meta_data."""

from __future__ import annotations

from typing import Any

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from appliance.api.common import change_meta, found, split_csv
from appliance.api.security import CurrentUser
from appliance.api.services import Services
from appliance.domain import policy
from appliance.domain.entities import Analysis, Folder
from appliance.domain.errors import AppError, ErrorCode
from appliance.wire import analysis_to_wire


class AnalysisController(Controller):
    path = "/api/analyses"
    tags = ["analyses"]

    def _get(self, services: Services, user: CurrentUser, analysis_id: str) -> tuple[Analysis, Folder]:
        analysis = services.store.get_analysis(analysis_id)
        folder = services.store.get_folder(analysis.folder_id) if analysis else None
        folder = found(folder, lambda f: policy.can_read_folder(user, f), "analysis")
        assert analysis is not None
        return analysis, folder

    @get("/{analysis_id:str}", sync_to_thread=True, summary="One analysis (poll it until it leaves PROCESSING)")
    def get_analysis(self, services: Services, user: CurrentUser, analysis_id: FromPath[str]) -> dict[str, Any]:
        analysis, folder = self._get(services, user, analysis_id)
        media = {m.media_id: m for m in services.store.list_media(folder.folder_id)}
        return analysis_to_wire(analysis, media, services.urls)

    @get("/{analysis_id:str}/meta_data", sync_to_thread=True)
    def get_meta(self, services: Services, user: CurrentUser, analysis_id: FromPath[str]) -> dict[str, Any]:
        return self._get(services, user, analysis_id)[0].meta_data

    @post("/{analysis_id:str}/meta_data", status_code=200, sync_to_thread=True)
    def replace_meta(
        self, services: Services, user: CurrentUser, analysis_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        return self._change_meta(services, user, analysis_id, "POST", data, None)

    @patch("/{analysis_id:str}/meta_data", sync_to_thread=True)
    def merge_meta(
        self, services: Services, user: CurrentUser, analysis_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        return self._change_meta(services, user, analysis_id, "PATCH", data, None)

    @delete("/{analysis_id:str}/meta_data", status_code=200, sync_to_thread=True)
    def delete_meta(
        self, services: Services, user: CurrentUser, analysis_id: FromPath[str], keys: FromQuery[str | None] = None
    ) -> dict[str, Any]:
        return self._change_meta(services, user, analysis_id, "DELETE", None, split_csv(keys))

    def _change_meta(
        self, services: Services, user: CurrentUser, analysis_id: str, method: str, body: Any, keys: list[str] | None
    ) -> dict[str, Any]:
        analysis, folder = self._get(services, user, analysis_id)
        if not policy.can_write_folder(user, folder):
            raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not change this analysis")
        updated = services.store.update_analysis_meta(analysis_id, change_meta(analysis.meta_data, method, body, keys))
        return updated.meta_data if updated else {}
