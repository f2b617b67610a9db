"""Folders: `/api/folders` with their media, meta_data and analyses."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from appliance.api import folder_service
from appliance.api.schemas import AnalysesIn
from appliance.api.security import CurrentUser
from appliance.core.decisions import readable_folder
from appliance.core.folders import delete_folder_and_files, wait_until_final
from appliance.core.providers import Services
from appliance.core.services import AppServices
from appliance.domain import policy
from appliance.domain.entities import Folder, User
from appliance.domain.enums import AnalysisState, FolderStatus, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.store import DatabaseUnavailable
from appliance.store.protocol import AnalysisFilter, FolderFilter, MetaCondition
from appliance.web.meta import MetaData, MetaDataRoutes
from appliance.web.requests import check_paging, split_csv
from appliance.web.responses import page
from appliance.web.uploads import ParsedUpload, read_multipart
from appliance.wire import analysis_to_wire, folder_to_wire, media_to_wire

_SORTINGS = {
    f"{field}{{{direction}}}": (field, direction == "desc")
    for field in ("time_created", "time_updated")
    for direction in ("asc", "desc")
}


def _time(value: float | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as exc:  # not finite, or past the years a datetime holds
        raise AppError(ErrorCode.INVALID_VALUE, f"{value} is not a time (seconds since 1970)") from exc


def _statuses(value: str | None) -> list[FolderStatus | Resolution] | None:
    names = split_csv(value)
    if names is None:
        return None
    statuses: list[FolderStatus | Resolution] = []
    for name in names:
        upper = name.upper()
        if upper in FolderStatus.__members__:
            statuses.append(FolderStatus(upper))
        elif upper in Resolution.__members__:
            statuses.append(Resolution(upper))
        else:
            raise AppError(ErrorCode.INVALID_VALUE, f"unknown resolution_status {name!r}")
    return statuses


def _states(value: str | None) -> list[AnalysisState] | None:
    names = split_csv(value)
    try:
        return [AnalysisState(n.upper()) for n in names] if names else None
    except ValueError as exc:
        raise AppError(ErrorCode.INVALID_VALUE, f"unknown analysis state in {value!r}") from exc


def _writable(services: AppServices, user: User, folder_id: str) -> Folder:
    """The folder if `user` may change it; NOT_EXIST or AUTH_FORBIDDEN otherwise."""
    folder = readable_folder(services, user, folder_id)
    if not policy.can_write_folder(user, folder):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not change this folder")
    return folder


class FolderController(Controller):
    path = "/api/folders"
    tags = ["folders"]

    async def _upload(self, request: Request, services: Services, user: CurrentUser) -> ParsedUpload:
        if not policy.can_create_folders(user):  # refuse before reading the body
            raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not upload media")
        return await read_multipart(request, services.settings.limits, services.settings.storage_path / "tmp")

    @post("/", summary="Create a folder with media; with `analyses` in the payload, wait for the result")
    async def create_folder(self, request: Request, services: Services, user: CurrentUser) -> Response[dict[str, Any]]:
        upload = await self._upload(request, services, user)
        try:
            payload = folder_service.parse_payload(upload)
            folder, media, analyses = await anyio.to_thread.run_sync(
                folder_service.create_folder, services, user, upload, payload
            )
        finally:
            upload.close()
        if payload.analyses is None:
            return Response(folder_to_wire(folder, media, None, services.urls), status_code=201)
        timeout = services.settings.api.single_request_timeout_seconds
        try:
            final = await anyio.to_thread.run_sync(wait_until_final, services.store, folder.folder_id, timeout)
            doc = await anyio.to_thread.run_sync(
                lambda: folder_service.folder_document(services, final or folder, with_analyses=True)
            )
        except DatabaseUnavailable:
            # The folder is stored (its rows committed) and its analyses queued; the database went
            # away while the result was awaited (a primary switch). A 503 now would have the client
            # send the folder again: answer what was written, as when the wait times out.
            doc = folder_to_wire(folder, media, analyses, services.urls)
        return Response(doc, status_code=201)

    @get("/", sync_to_thread=True, summary="List folders")
    def list_folders(
        self,
        services: Services,
        user: CurrentUser,
        offset: FromQuery[int] = 0,
        limit: FromQuery[int] = 100,
        sorting: FromQuery[str] = "time_created{desc}",
        time_created_min: Annotated[float | None, QueryParameter(name="time_created.min")] = None,
        time_created_max: Annotated[float | None, QueryParameter(name="time_created.max")] = None,
        time_updated_min: Annotated[float | None, QueryParameter(name="time_updated.min")] = None,
        time_updated_max: Annotated[float | None, QueryParameter(name="time_updated.max")] = None,
        meta_data: FromQuery[list[str] | None] = None,
        resolution_status: FromQuery[str | None] = None,
        with_analyses: FromQuery[bool] = False,
        company_id: FromQuery[str | None] = None,
        user_id: FromQuery[str | None] = None,
        folder_id: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        check_paging(offset, limit)
        if sorting not in _SORTINGS:
            raise AppError(ErrorCode.INVALID_VALUE, f"sorting must be one of {', '.join(_SORTINGS)}")
        scope = policy.folder_scope(user)
        flt = FolderFilter(
            company_id=scope.company_id or company_id,
            user_id=scope.user_id or user_id,
            folder_ids=split_csv(folder_id),
            resolution_status=_statuses(resolution_status),
            time_created_min=_time(time_created_min),
            time_created_max=_time(time_created_max),
            time_updated_min=_time(time_updated_min),
            time_updated_max=_time(time_updated_max),
            meta_data=[MetaCondition.parse(m) for m in meta_data or []],
            sort_field=_SORTINGS[sorting][0],  # type: ignore[arg-type]
            sort_desc=_SORTINGS[sorting][1],
            offset=offset,
            limit=limit,
        )
        # A filter naming another company or user than the caller's scope allows matches nothing.
        outside_scope = (scope.company_id is not None and company_id not in (None, scope.company_id)) or (
            scope.user_id is not None and user_id not in (None, scope.user_id)
        )
        folders, total = ([], 0) if outside_scope else services.store.list_folders(flt)
        ids = [f.folder_id for f in folders]
        media = services.store.list_media_of_folders(ids)
        analyses = services.store.list_analyses_of_folders(ids) if with_analyses else {}
        items = [
            folder_to_wire(
                f, media.get(f.folder_id, []), analyses.get(f.folder_id, []) if with_analyses else None, services.urls
            )
            for f in folders
        ]
        return page(items, total, offset, limit)

    @get("/{folder_id:str}", sync_to_thread=True, summary="One folder")
    def get_folder(
        self, services: Services, user: CurrentUser, folder_id: FromPath[str], with_analyses: FromQuery[bool] = False
    ) -> dict[str, Any]:
        folder = readable_folder(services, user, folder_id)
        return folder_service.folder_document(services, folder, with_analyses=with_analyses)

    @delete("/{folder_id:str}", sync_to_thread=True, summary="Delete a folder, its media files and results")
    def delete_folder(self, services: Services, user: CurrentUser, folder_id: FromPath[str]) -> None:
        folder = readable_folder(services, user, folder_id)
        if not policy.can_delete_folder(user, folder):
            raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not delete folders")
        delete_folder_and_files(services.store, services.storage, folder_id)

    @post("/{folder_id:str}/media", summary="Add media to a folder")
    async def add_media(
        self, request: Request, services: Services, user: CurrentUser, folder_id: FromPath[str]
    ) -> list[dict[str, Any]]:
        folder = await anyio.to_thread.run_sync(_writable, services, user, folder_id)
        upload = await self._upload(request, services, user)
        try:
            media = await anyio.to_thread.run_sync(
                folder_service.add_media, services, user, folder, upload, folder_service.parse_payload(upload)
            )
        finally:
            upload.close()
        return [media_to_wire(m, services.urls) for m in media]

    @post("/{folder_id:str}/analyses", sync_to_thread=True, summary="Start analyses on a folder")
    def start_analyses(
        self, services: Services, user: CurrentUser, folder_id: FromPath[str], data: JSONBody[AnalysesIn]
    ) -> list[dict[str, Any]]:
        folder = _writable(services, user, folder_id)
        analyses, media = folder_service.start_analyses(services, user, folder, data.analyses, data.resolution_endpoint)
        media_by_id = {m.media_id: m for m in media}
        return [analysis_to_wire(a, media_by_id, services.urls) for a in analyses]

    @get("/{folder_id:str}/analyses", sync_to_thread=True, summary="Analyses of a folder")
    def list_analyses(
        self,
        services: Services,
        user: CurrentUser,
        folder_id: FromPath[str],
        analyse_id: FromQuery[str | None] = None,
        analyse_id_exclude: Annotated[str | None, QueryParameter(name="analyse_id.exclude")] = None,
        types: Annotated[str | None, QueryParameter(name="type")] = None,
        types_exclude: Annotated[str | None, QueryParameter(name="type.exclude")] = None,
        states: Annotated[str | None, QueryParameter(name="state")] = None,
        states_exclude: Annotated[str | None, QueryParameter(name="state.exclude")] = None,
    ) -> list[dict[str, Any]]:
        readable_folder(services, user, folder_id)
        upper = lambda v: [t.upper() for t in split_csv(v) or []] or None  # noqa: E731
        flt = AnalysisFilter(
            analysis_ids=split_csv(analyse_id),
            exclude_analysis_ids=split_csv(analyse_id_exclude),
            types=upper(types),
            exclude_types=upper(types_exclude),
            states=_states(states),
            exclude_states=_states(states_exclude),
        )
        media = {m.media_id: m for m in services.store.list_media(folder_id)}
        return [analysis_to_wire(a, media, services.urls) for a in services.store.list_analyses(folder_id, flt)]


def _folder_meta(services: Services, user: CurrentUser, folder_id: FromPath[str]) -> MetaData[Folder]:
    return MetaData(
        readable=lambda: readable_folder(services, user, folder_id),
        writable=lambda: _writable(services, user, folder_id),
        save=lambda folder, meta: services.store.update_folder(replace(folder, meta_data=meta)).meta_data,
    )


class FolderMetaDataController(MetaDataRoutes):
    path = "/api/folders/{folder_id:str}/meta_data"
    tags = ["folders"]
    dependencies = {"meta_data": Provide(_folder_meta, sync_to_thread=True)}
