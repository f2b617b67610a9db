"""Media: `/api/media/{id}` (document, meta_data) and the files behind it.

Files are served only to an authorised caller: either the request carries a valid access token
of someone who may see the folder, or the URL carries a valid, unexpired signature (the links in
every document the API returns). Nothing is reachable by a guessable public path. Whichever backend
holds the files, the API sends a local file, streams the object from the bucket, or (object
storage with `storage.presigned_urls`) redirects to a presigned URL of it, valid for minutes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from litestar import Controller, Request, get
from litestar.di import Provide
from litestar.params import FromPath
from litestar.response import File, Redirect, Stream

from appliance.api.security import CurrentUser, provide_user
from appliance.core.providers import Services
from appliance.core.services import AppServices
from appliance.domain import policy
from appliance.domain.entities import Media, User
from appliance.domain.errors import AppError, ErrorCode
from appliance.media.storage import Served
from appliance.media.storage.base import PREVIEW, THUMBNAIL, output_image_name
from appliance.web.meta import MetaData, MetaDataRoutes
from appliance.web.requests import found
from appliance.web.responses import send_file
from appliance.wire import media_to_wire

__all__ = ["AnalysisImageController", "MediaController", "authorise_file", "send_stored"]

#: How long a client keeps a file it was sent (privately); a presigned redirect is not kept.
_CACHE_CONTROL = "private, max-age=300"

StoredAnswer = File | Stream | Redirect


def send_stored(served: Served, media_type: str) -> StoredAnswer:
    """The answer for a stored file, as the storage says to serve it."""
    if served.redirect_url is not None:
        return Redirect(served.redirect_url, status_code=307, headers={"Cache-Control": "no-store"})
    if served.chunks is not None:
        headers = {"Cache-Control": _CACHE_CONTROL}
        if served.size is not None:
            headers["Content-Length"] = str(served.size)
        return Stream(served.chunks, media_type=media_type, headers=headers)
    assert served.path is not None
    return send_file(served.path, media_type)


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


def _readable(services: AppServices, user: User, media_id: str) -> Media:
    """The media if `user` may see its folder; NOT_EXIST otherwise."""
    media = services.store.get_media(media_id)
    folder = services.store.get_folder(media.folder_id) if media else None
    found(folder, lambda f: policy.can_read_folder(user, f), "media")
    assert media is not None
    return media


class MediaController(Controller):
    path = "/api/media"
    tags = ["media"]

    def _media_for_file(self, request: Request, services: Services, media_id: str) -> Media:
        media = services.store.get_media(media_id)
        authorise_file(request, services, lambda: media.folder_id if media else None)
        assert media is not None
        return media

    @get("/{media_id:str}", sync_to_thread=True, summary="One media document")
    def get_media(self, services: Services, user: CurrentUser, media_id: FromPath[str]) -> dict[str, Any]:
        return media_to_wire(_readable(services, user, media_id), services.urls)

    @get("/{media_id:str}/file", sync_to_thread=True, summary="The uploaded file (signed URL or token)")
    def file(self, request: Request, services: Services, media_id: FromPath[str]) -> StoredAnswer:
        media = self._media_for_file(request, services, media_id)
        return send_stored(services.storage.serve_file(media.sha256, media.extension), media.mime_type)

    @get("/{media_id:str}/thumbnail", sync_to_thread=True, summary="JPEG thumbnail (signed URL or token)")
    def thumbnail(self, request: Request, services: Services, media_id: FromPath[str]) -> StoredAnswer:
        self._media_for_file(request, services, media_id)
        return send_stored(services.storage.serve_derived(media_id, THUMBNAIL), "image/jpeg")

    @get("/{media_id:str}/preview", sync_to_thread=True, summary="MP4 preview of a shot set (signed URL or token)")
    def preview(self, request: Request, services: Services, media_id: FromPath[str]) -> StoredAnswer:
        self._media_for_file(request, services, media_id)
        return send_stored(services.storage.serve_derived(media_id, PREVIEW), "video/mp4")


def _writable(services: AppServices, user: User, media_id: str) -> Media:
    """The media if `user` may change its folder; NOT_EXIST or AUTH_FORBIDDEN otherwise."""
    media = _readable(services, user, media_id)
    folder = services.store.get_folder(media.folder_id)
    if folder is None or not policy.can_write_folder(user, folder):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not change this media")
    return media


def _media_meta(services: Services, user: CurrentUser, media_id: FromPath[str]) -> MetaData[Media]:
    return MetaData(
        readable=lambda: _readable(services, user, media_id),
        writable=lambda: _writable(services, user, media_id),
        save=lambda media, meta: services.store.update_media(replace(media, meta_data=meta)).meta_data,
    )


class MediaMetaDataController(MetaDataRoutes):
    path = "/api/media/{media_id:str}/meta_data"
    tags = ["media"]
    dependencies = {"meta_data": Provide(_media_meta, sync_to_thread=True)}


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
    ) -> StoredAnswer:
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
        return send_stored(services.storage.serve_derived(media_id, output_image_name(analysis_id, name)), "image/jpeg")
