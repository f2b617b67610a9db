"""Folders, their media and analyses: the work behind the folder endpoints, in plain functions.

Order of a folder upload, chosen so that a refused request leaves nothing behind:
1. every file is checked and stored first (content-addressed, deduplicated);
2. the folder, media and analyses rows are written in ONE transaction;
3. if anything fails, the files this request created (and no row refers to) are removed;
4. only after the commit are previews and analyses enqueued.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec

from appliance.api.schemas import AnalysisIn, FolderPayload
from appliance.api.services import ApiServices
from appliance.api.uploads import ParsedUpload, UploadedFile
from appliance.domain import policy
from appliance.domain.entities import Analysis, Folder, Media, User
from appliance.domain.enums import AnalysisState, FolderStatus, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.rules import FINAL_FOLDER_STATUSES, MediaRule
from appliance.domain.tags import unknown_tags
from appliance.media.previews import write_atomically
from appliance.media.storage import StoredFile
from appliance.ops import metrics
from appliance.sdk.requests import merge_params, pick_source_media
from appliance.wire import folder_to_wire

__all__ = [
    "add_media",
    "check_analysis_type",
    "check_endpoint",
    "check_payload_media",
    "create_folder",
    "folder_document",
    "parse_payload",
    "start_analyses",
    "wait_for_folder",
    "wait_until_final",
]

_ANALYSIS_TYPE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")


def _now() -> datetime:
    return datetime.now(UTC)


def parse_payload(upload: ParsedUpload) -> FolderPayload:
    """The `payload` part as a FolderPayload, or PAYLOAD_INVALID saying which field is wrong."""
    try:
        return msgspec.convert(upload.payload, FolderPayload)
    except msgspec.ValidationError as exc:
        raise AppError(ErrorCode.PAYLOAD_INVALID, f"payload: {exc}") from exc


def check_analysis_type(requested: str) -> str:
    """The analysis type as stored (upper case), or INVALID_VALUE for anything that is not a type name."""
    analysis_type = requested.strip().upper()
    if not _ANALYSIS_TYPE.match(analysis_type):
        raise AppError(ErrorCode.INVALID_VALUE, f"not an analysis type: {requested!r}")
    return analysis_type


def check_endpoint(url: str | None) -> str | None:
    """A webhook URL must be absolute http(s)."""
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AppError(ErrorCode.INVALID_VALUE, "resolution_endpoint must be an absolute http(s) URL")
    return url


def check_payload_media(services: ApiServices, files: Sequence[UploadedFile], payload: FolderPayload) -> None:
    keys = {f.key for f in files}
    for mapping, label in ((payload.media_tags, "media:tags"), (payload.media_meta_data, "media:meta_data")):
        stray = sorted(set(mapping) - keys)
        if stray:
            raise AppError(
                ErrorCode.UNKNOWN_MEDIA_KEY,
                f"{label} names files that were not uploaded: {', '.join(stray)}",
                {"media_keys": stray},
            )
    extra = services.plugins.registry.known_tags()
    for key, tags in payload.media_tags.items():
        bad = unknown_tags(tags, extra)
        if bad:
            raise AppError(ErrorCode.UNKNOWN_TAG, f"unknown tags for {key!r}: {', '.join(bad)}", {"tags": bad})


def _ingest(services: ApiServices, files: Sequence[UploadedFile]) -> list[StoredFile]:
    if not files:
        raise AppError(ErrorCode.PAYLOAD_INVALID, "no media files in the request")
    stored: list[StoredFile] = []
    try:
        for upload in files:
            try:
                stored.append(services.storage.ingest(upload.file, upload.filename))
            except AppError as exc:
                raise AppError(
                    exc.code, f"{upload.key}: {exc.message}", {**(exc.details or {}), "media_key": upload.key}
                ) from exc
    except BaseException:
        _discard_unreferenced(services, stored)
        raise
    return stored


def _discard_unreferenced(services: ApiServices, stored: Sequence[StoredFile], media: Sequence[Media] = ()) -> None:
    """Undo what an upload wrote before its rows were recorded: new content files no row uses, and
    the derived files (thumbnails) of the media rows it was about to add."""
    for item in stored:
        if item.created and services.store.count_media_with_sha256(item.sha256) == 0:
            services.storage.discard(item)
    for row in media:
        services.storage.delete_derived(row.media_id)


def _write_thumbnails(services: ApiServices, media: Sequence[Media], stored: Sequence[StoredFile]) -> None:
    """Write the thumbnails the uploads' probes made, before the rows that say they are there."""
    for row, item in zip(media, stored, strict=True):
        if item.thumbnail is not None:
            write_atomically(item.thumbnail, services.storage.thumbnail_path(row.media_id))
            row.has_thumbnail = True


def _media_rows(
    folder_id: str, files: Sequence[UploadedFile], stored: Sequence[StoredFile], payload: FolderPayload
) -> list[Media]:
    return [
        item.to_media(
            media_id=str(uuid.uuid4()),
            folder_id=folder_id,
            original_name=upload.filename,
            tags=payload.media_tags.get(upload.key, []),
            meta_data=payload.media_meta_data.get(upload.key),
        )
        for upload, item in zip(files, stored, strict=True)
    ]


def _plan_analyses(
    services: ApiServices, user: User, folder: Folder, media: Sequence[Media], requests: Sequence[AnalysisIn]
) -> list[Analysis]:
    """Analyses rows for `requests`: type checked, source media chosen, params merged."""
    if not requests:
        raise AppError(ErrorCode.INVALID_VALUE, "analyses must list at least one analysis")
    planned = []
    for request in requests:
        analysis_type = check_analysis_type(request.type)
        if not policy.can_start_analysis(user, analysis_type):
            raise AppError(ErrorCode.AUTH_FORBIDDEN, f"this user may not start {analysis_type} analyses")
        spec = services.plugins.registry.get(analysis_type)
        if spec is not None:
            chosen = pick_source_media(spec.media_rule, media, request.source_media)
        else:  # recorded FAILED below: no plugin provides this type
            chosen = pick_source_media(MediaRule(min_count=0), media, request.source_media)
        analysis = Analysis(
            analysis_id=str(uuid.uuid4()),
            folder_id=folder.folder_id,
            type=analysis_type,
            params=merge_params(spec, request.params) if spec else dict(request.params),
            source_media=[m.media_id for m in chosen],
            time_queued=_now(),
        )
        if spec is None:
            analysis = replace(
                analysis,
                state=AnalysisState.FAILED,
                resolution_status=Resolution.FAILED,
                error_code=int(ErrorCode.ANALYSIS_NO_PLUGIN),
                error_message=f"no installed plugin provides analysis type {analysis_type}",
                time_finished=_now(),
            )
        planned.append(analysis)
    return planned


def _write_analyses(services: ApiServices, folder: Folder, analyses: Sequence[Analysis]) -> None:
    for analysis in analyses:
        services.store.create_analysis(analysis)
    if any(a.state is AnalysisState.PROCESSING for a in analyses):
        services.store.set_folder_outcome(folder.folder_id, FolderStatus.PROCESSING, Resolution.PROCESSING)


def _enqueue(services: ApiServices, folder_id: str, media: Sequence[Media], analyses: Sequence[Analysis]) -> None:
    installed = services.plugins.registry.types()
    for analysis in analyses:
        if analysis.state is AnalysisState.FAILED:  # no plugin provides its type: final from the start
            metrics.analysis_finished(metrics.analysis_type_label(analysis.type, installed), analysis.resolution_status)
    for item in media:
        if not item.has_thumbnail:  # a shot set: its thumbnail comes with its preview video
            services.queues.enqueue_preview(item.media_id)
    processing = [a for a in analyses if a.state is AnalysisState.PROCESSING]
    if processing:  # one task: they read the folder's media, and share its face tracks (tasks.run_analyses)
        services.queues.enqueue_analyses([a.analysis_id for a in processing])
    if analyses and not processing:
        services.queues.enqueue_resolve(folder_id)


def create_folder(
    services: ApiServices, user: User, upload: ParsedUpload, payload: FolderPayload
) -> tuple[Folder, list[Media], list[Analysis]]:
    if not policy.can_create_folders(user):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not create folders")
    check_payload_media(services, upload.files, payload)
    folder = Folder(
        folder_id=str(uuid.uuid4()),
        company_id=user.company_id,
        user_id=user.user_id,
        resolution_endpoint=check_endpoint(payload.resolution_endpoint),
        meta_data=payload.folder_meta_data,
        technical_meta_data={"additional_info": payload.additional_info} if payload.additional_info is not None else {},
    )
    stored = _ingest(services, upload.files)
    media = _media_rows(folder.folder_id, upload.files, stored, payload)
    try:
        analyses = (
            _plan_analyses(services, user, folder, media, payload.analyses) if payload.analyses is not None else []
        )
        _write_thumbnails(services, media, stored)
        with services.store.transaction():
            folder = services.store.create_folder(folder)
            media = [services.store.add_media(m) for m in media]
            _write_analyses(services, folder, analyses)
    except BaseException:
        _discard_unreferenced(services, stored, media)
        raise
    _enqueue(services, folder.folder_id, media, analyses)
    return folder, media, analyses


def add_media(
    services: ApiServices, user: User, folder: Folder, upload: ParsedUpload, payload: FolderPayload
) -> list[Media]:
    if payload.analyses is not None or payload.folder_meta_data or payload.resolution_endpoint:
        raise AppError(ErrorCode.PAYLOAD_INVALID, "adding media takes only media:tags and media:meta_data")
    check_payload_media(services, upload.files, payload)
    stored = _ingest(services, upload.files)
    media = _media_rows(folder.folder_id, upload.files, stored, payload)
    try:
        _write_thumbnails(services, media, stored)
        with services.store.transaction():
            media = [services.store.add_media(m) for m in media]
            services.store.update_folder(folder)  # touch time_updated
    except BaseException:
        _discard_unreferenced(services, stored, media)
        raise
    _enqueue(services, folder.folder_id, media, [])
    return media


def start_analyses(
    services: ApiServices, user: User, folder: Folder, requests: Sequence[AnalysisIn], endpoint: str | None
) -> list[Analysis]:
    media = services.store.list_media(folder.folder_id)
    analyses = _plan_analyses(services, user, folder, media, requests)
    with services.store.transaction():
        if endpoint is not None:
            services.store.update_folder(replace(folder, resolution_endpoint=check_endpoint(endpoint)))
        _write_analyses(services, folder, analyses)
    _enqueue(services, folder.folder_id, [], analyses)
    return analyses


_POLL_MAX_SECONDS = 0.1


def wait_until_final(services: ApiServices, folder_id: str, timeout_seconds: float) -> Folder | None:
    """Poll until the folder has a final status or `timeout_seconds` pass; the folder as it is then."""
    return wait_for_folder(services, folder_id, timeout_seconds, lambda f: f.resolution_status in FINAL_FOLDER_STATUSES)


def wait_for_folder(
    services: ApiServices, folder_id: str, timeout_seconds: float, ready: Callable[[Folder], bool]
) -> Folder | None:
    """Poll until the folder is `ready` (or gone) or `timeout_seconds` pass; the folder as it is then.

    The folder is read every `_POLL_MAX_SECONDS` at most: the caller waits for the answer, and a
    longer pause would add to every single request's latency (and keep a client from sending its
    next folder) for the sake of one primary-key read.
    """
    deadline = time.monotonic() + timeout_seconds
    delay = 0.02
    while True:
        folder = services.store.get_folder(folder_id)
        if folder is None or ready(folder) or time.monotonic() >= deadline:
            return folder
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, _POLL_MAX_SECONDS)


def folder_document(services: ApiServices, folder: Folder, *, with_analyses: bool) -> dict[str, Any]:
    media = services.store.list_media(folder.folder_id)
    analyses = services.store.list_analyses(folder.folder_id) if with_analyses else None
    return folder_to_wire(folder, media, analyses, services.urls)
