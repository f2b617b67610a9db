"""Media: `/api/media/{id}` (document, meta_data) and the files behind it.

Files are served only to an authorised caller: either the request carries a valid access token
of someone who may see the folder, or the URL carries a valid, unexpired signature (the links in
every document the API returns). Nothing is reachable by a guessable public path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import File

from appliance.api.common import change_meta, found, send_file, split_csv
from appliance.api.security import CurrentUser, provide_user
from appliance.api.services import Services
from appliance.domain import policy
from appliance.domain.entities import Media
from appliance.domain.errors import AppError, ErrorCode
from appliance.wire import media_to_wire

__all__ = ["AnalysisImageController", "MediaController", "authorise_file"]


def authorise_file(request: Request, services: Services, folder_of: Callable[[], str | None]) -> None:
    """Let a file through for a valid signed URL, or for a token whose user may read the folder
    that `folder_of()` names. Credentials are checked before anything is looked up, so a caller
    without them learns nothing about which ids exist."""
    expires, signature = request.query_params.get("expires"), request.query_params.get("signature")
    if expires is not None and signature is not None:
        if not services.urls.verify(request.url.path, expires, signature):
            raise AppError(
                ErrorCode.AUTH_EXPIRED, "this link has expired or its signature is wrong; fetch the document again"
            )
        found(folder_of(), lambda _: True, "file")
        return
    user = provide_user(request, services)
    folder_id = folder_of()
    folder = services.store.get_folder(folder_id) if folder_id else None
    found(folder, lambda f: policy.can_read_folder(user, f), "file")


class MediaController(Controller):
    path = "/api/media"
    tags = ["media"]

    def _get(self, services: Services, user: CurrentUser, media_id: str) -> Media:
        media = services.store.get_media(media_id)
        folder = services.store.get_folder(media.folder_id) if media else None
        found(folder, lambda f: policy.can_read_folder(user, f), "media")
        assert media is not None
        return media

    def _media_for_file(self, request: Request, services: Services, media_id: str) -> Media:
        media = services.store.get_media(media_id)
        authorise_file(request, services, lambda: media.folder_id if media else None)
        assert media is not None
        return media

    @get("/{media_id:str}", sync_to_thread=True, summary="One media document")
    def get_media(self, services: Services, user: CurrentUser, media_id: FromPath[str]) -> dict[str, Any]:
        return media_to_wire(self._get(services, user, media_id), services.urls)

    @get("/{media_id:str}/file", sync_to_thread=True, summary="The uploaded file (signed URL or token)")
    def file(self, request: Request, services: Services, media_id: FromPath[str]) -> File:
        media = self._media_for_file(request, services, media_id)
        return send_file(services.storage.path_for(media.sha256, media.extension), media.mime_type)

    @get("/{media_id:str}/thumbnail", sync_to_thread=True, summary="JPEG thumbnail (signed URL or token)")
    def thumbnail(self, request: Request, services: Services, media_id: FromPath[str]) -> File:
        self._media_for_file(request, services, media_id)
        return send_file(services.storage.thumbnail_path(media_id), "image/jpeg")

    @get("/{media_id:str}/preview", sync_to_thread=True, summary="MP4 preview of a shot set (signed URL or token)")
    def preview(self, request: Request, services: Services, media_id: FromPath[str]) -> File:
        self._media_for_file(request, services, media_id)
        return send_file(services.storage.preview_path(media_id), "video/mp4")

    @get("/{media_id:str}/meta_data", sync_to_thread=True)
    def get_meta(self, services: Services, user: CurrentUser, media_id: FromPath[str]) -> dict[str, Any]:
        return self._get(services, user, media_id).meta_data

    @post("/{media_id:str}/meta_data", status_code=200, sync_to_thread=True)
    def replace_meta(
        self, services: Services, user: CurrentUser, media_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        return self._change_meta(services, user, media_id, "POST", data, None)

    @patch("/{media_id:str}/meta_data", sync_to_thread=True)
    def merge_meta(
        self, services: Services, user: CurrentUser, media_id: FromPath[str], data: JSONBody[dict[str, Any]]
    ) -> dict[str, Any]:
        return self._change_meta(services, user, media_id, "PATCH", data, None)

    @delete("/{media_id:str}/meta_data", status_code=200, sync_to_thread=True)
    def delete_meta(
        self, services: Services, user: CurrentUser, media_id: FromPath[str], keys: FromQuery[str | None] = None
    ) -> dict[str, Any]:
        return self._change_meta(services, user, media_id, "DELETE", None, split_csv(keys))

    def _change_meta(
        self, services: Services, user: CurrentUser, media_id: str, method: str, body: Any, keys: list[str] | None
    ) -> dict[str, Any]:
        media = self._get(services, user, media_id)
        folder = services.store.get_folder(media.folder_id)
        if folder is None or not policy.can_write_folder(user, folder):
            raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not change this media")
        media.meta_data = change_meta(media.meta_data, method, body, keys)
        return services.store.update_media(media).meta_data


class AnalysisImageController(Controller):
    path = "/api/analyses/{analysis_id:str}/images"
    tags = ["analyses"]

    @get(
        "/{media_id:str}/{name:str}", sync_to_thread=True, summary="An image an analysis produced (signed URL or token)"
    )
    def output_image(
        self,
        request: Request,
        services: Services,
        analysis_id: FromPath[str],
        media_id: FromPath[str],
        name: FromPath[str],
    ) -> File:
        analysis = services.store.get_analysis(analysis_id)
        authorise_file(request, services, lambda: analysis.folder_id if analysis else None)
        assert analysis is not None
        known = {
            image["name"]
            for item in analysis.results_media
            if item.get("source_media_id") == media_id
            for image in item.get("output_images", [])
        }
        if name not in known:
            raise AppError(ErrorCode.NOT_EXIST, "image not found")
        return send_file(services.storage.output_dir(media_id) / analysis_id / f"{name}.jpg", "image/jpeg")
