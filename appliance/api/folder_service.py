"""Folders, their media and analyses: the work behind the folder endpoints, in plain functions.

Order of a folder upload, chosen so that a refused request leaves nothing behind:
0. a request that asks for analyses is admitted only while the analysis queue is shorter than
   `queue.admission_depth` (QUEUE_FULL otherwise);
1. every file is checked and stored first (content-addressed, deduplicated);
2. the folder, media and analyses rows are written in ONE transaction (run again if the database
   went away under it and it rolled back: a primary switch);
3. if anything fails, the files this request created (and no row refers to) are removed;
4. only after the commit are previews and analyses enqueued.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import msgspec

from appliance.api.schemas import AnalysisIn, FolderPayload
from appliance.core.services import AppServices
from appliance.domain import policy
from appliance.domain.entities import Analysis, Folder, Media, User
from appliance.domain.enums import FolderStatus, MediaKind, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.tags import mismatched_tags, unknown_tags
from appliance.media.storage import StoredFile
from appliance.media.storage.base import THUMBNAIL
from appliance.sdk.requests import merge_params, pick_source_media
from appliance.sdk.types import AnalyzerSpec
from appliance.store import DatabaseUnavailable
from appliance.web.responses import RETRY_AFTER_DETAIL
from appliance.web.uploads import ParsedUpload, UploadedFile
from appliance.wire import folder_to_wire

__all__ = [
    "add_media",
    "add_media_with_analyses",
    "check_endpoint",
    "check_media_tags",
    "check_payload_media",
    "create_folder",
    "folder_document",
    "installed_analysis",
    "parse_payload",
    "start_analyses",
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


def installed_analysis(services: AppServices, requested: str) -> AnalyzerSpec:
    """The installed analysis type `requested` names (any case): INVALID_VALUE for what is not a
    type name, ANALYSIS_TYPE_UNKNOWN (with the installed types) for one no plugin provides."""
    analysis_type = requested.strip().upper()
    if not _ANALYSIS_TYPE.match(analysis_type):
        raise AppError(ErrorCode.INVALID_VALUE, f"not an analysis type: {requested!r}")
    registry = services.plugins.registry
    spec = registry.get(analysis_type)
    if spec is None:
        installed = registry.types()
        raise AppError(
            ErrorCode.ANALYSIS_TYPE_UNKNOWN,
            f"no installed plugin provides analysis type {analysis_type}; installed: {', '.join(installed)}",
            {"analysis_type": analysis_type, "installed": installed},
        )
    return spec


def check_endpoint(services: AppServices, url: str | None) -> str | None:
    """A webhook URL: absolute http(s) (INVALID_VALUE), to a target webhooks may go to (WEBHOOK_TARGET_REFUSED)."""
    return None if url is None else services.webhook_targets.check_url(url)


def check_payload_media(services: AppServices, files: Sequence[UploadedFile], payload: FolderPayload) -> None:
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


def _admit_analyses(services: AppServices) -> None:
    """QUEUE_FULL (503, with Retry-After) while `queue.admission_depth` tasks or more wait in the
    analysis queue: more work would wait longer than anyone waits for it. Checked before anything
    is written."""
    queue = services.settings.queue
    if queue.admission_depth <= 0:
        return
    depth = services.queues.analysis_depth()
    if depth >= queue.admission_depth:
        raise AppError(
            ErrorCode.QUEUE_FULL,
            f"{depth} analysis tasks are waiting: send this again in {queue.admission_retry_after_seconds} s",
            {"queue_depth": depth, RETRY_AFTER_DETAIL: queue.admission_retry_after_seconds},
        )


def check_media_tags(key: str, tags: Sequence[str], kind: MediaKind) -> None:
    """MEDIA_TAG_MISMATCH when the content of the file `key` (sniffed, never the client's word) is not
    what one of its tags says: a photo tagged `video_selfie`, a video tagged `photo_selfie`."""
    wrong = mismatched_tags(tags, kind)
    if wrong:
        raise AppError(
            ErrorCode.MEDIA_TAG_MISMATCH,
            f"{key}: the file is {'a photo' if kind is MediaKind.IMAGE else 'a video'}, "
            f"which tags {', '.join(wrong)} do not fit",
            {"media_key": key, "media_kind": kind.value, "tags": wrong},
        )


def _ingest(services: AppServices, files: Sequence[UploadedFile], payload: FolderPayload) -> list[StoredFile]:
    """Check and store each file, its content against its tags; on any refusal, nothing stays."""
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
            check_media_tags(upload.key, payload.media_tags.get(upload.key, []), stored[-1].probe.kind)
    except BaseException:
        _discard_unreferenced(services, stored)
        raise
    return stored


@contextmanager
def _undone_on_failure(services: AppServices, stored: Sequence[StoredFile], media: Sequence[Media]) -> Iterator[None]:
    """Whatever fails inside (a refusal, the database, an interrupt) undoes the upload's files
    (`_discard_unreferenced`) and goes on up."""
    try:
        yield
    except BaseException as exc:
        _discard_unreferenced(services, stored, media, exc)
        raise


def _discard_unreferenced(
    services: AppServices, stored: Sequence[StoredFile], media: Sequence[Media] = (), error: BaseException | None = None
) -> None:
    """Undo what an upload wrote before its rows were recorded: new content files no row uses, and
    the derived files (thumbnails) of the media rows it was about to add. When `error` says the
    database is away, whether a row uses a content file cannot be asked: those stay, for the
    orphan sweep (`core/orphans.py`) to remove once past its grace period."""
    if not isinstance(error, DatabaseUnavailable):
        for item in stored:
            if item.created and services.store.count_media_with_sha256(item.sha256) == 0:
                services.storage.discard(item)
    for row in media:
        services.storage.delete_derived(row.media_id)


def _write_thumbnails(services: AppServices, media: Sequence[Media], stored: Sequence[StoredFile]) -> None:
    """Write the thumbnails the uploads' probes made, before the rows that say they are there."""
    for row, item in zip(media, stored, strict=True):
        if item.thumbnail is not None:
            services.storage.put_derived(row.media_id, THUMBNAIL, item.thumbnail)
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
    services: AppServices, user: User, folder: Folder, media: Sequence[Media], requests: Sequence[AnalysisIn]
) -> list[Analysis]:
    """Analyses rows for `requests`: type checked, source media chosen, params merged."""
    if not requests:
        raise AppError(ErrorCode.INVALID_VALUE, "analyses must list at least one analysis")
    planned = []
    for request in requests:
        spec = installed_analysis(services, request.type)
        if not policy.can_start_analysis(user, spec.type):
            raise AppError(ErrorCode.AUTH_FORBIDDEN, f"this user may not start {spec.type} analyses")
        chosen = pick_source_media(spec.media_rule, media, request.source_media)
        planned.append(
            Analysis(
                analysis_id=str(uuid.uuid4()),
                folder_id=folder.folder_id,
                type=spec.type,
                params=merge_params(spec, request.params),
                source_media=[m.media_id for m in chosen],
                time_queued=_now(),
            )
        )
    return planned


def _write_analyses(services: AppServices, folder: Folder, analyses: Sequence[Analysis]) -> list[Analysis]:
    """The analyses as stored (with their times), the folder PROCESSING when there are any."""
    written = [services.store.create_analysis(analysis) for analysis in analyses]
    if written:
        services.store.set_folder_outcome(folder.folder_id, FolderStatus.PROCESSING, Resolution.PROCESSING)
    return written


def _enqueue(services: AppServices, media: Sequence[Media], analyses: Sequence[Analysis]) -> None:
    for item in media:
        if not item.has_thumbnail:  # a shot set: its thumbnail comes with its preview video
            services.queues.enqueue_preview(item.media_id)
    if analyses:  # one task: they read the folder's media, and share its face tracks (tasks.run_analyses)
        services.queues.enqueue_analyses([a.analysis_id for a in analyses])


def create_folder(
    services: AppServices, user: User, upload: ParsedUpload, payload: FolderPayload
) -> tuple[Folder, list[Media], list[Analysis]]:
    if not policy.can_create_folders(user):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not create folders")
    check_payload_media(services, upload.files, payload)
    folder = Folder(
        folder_id=str(uuid.uuid4()),
        company_id=user.company_id,
        user_id=user.user_id,
        resolution_endpoint=check_endpoint(services, payload.resolution_endpoint),
        meta_data=payload.folder_meta_data,
        technical_meta_data={"additional_info": payload.additional_info} if payload.additional_info is not None else {},
    )
    if payload.analyses is not None:
        _admit_analyses(services)
    stored = _ingest(services, upload.files, payload)
    media = _media_rows(folder.folder_id, upload.files, stored, payload)
    with _undone_on_failure(services, stored, media):
        analyses = (
            _plan_analyses(services, user, folder, media, payload.analyses) if payload.analyses is not None else []
        )
        _write_thumbnails(services, media, stored)
        planned = analyses

        def write_rows() -> tuple[Folder, list[Media], list[Analysis]]:  # run again if the database went away
            written = services.store.create_folder(folder)
            return written, [services.store.add_media(m) for m in media], _write_analyses(services, written, planned)

        folder, media, analyses = services.store.run_transaction(write_rows)
    _enqueue(services, media, analyses)
    return folder, media, analyses


def add_media(
    services: AppServices, user: User, folder: Folder, upload: ParsedUpload, payload: FolderPayload
) -> list[Media]:
    if payload.analyses is not None or payload.folder_meta_data or payload.resolution_endpoint:
        raise AppError(ErrorCode.PAYLOAD_INVALID, "adding media takes only media:tags and media:meta_data")
    check_payload_media(services, upload.files, payload)
    stored = _ingest(services, upload.files, payload)
    media = _media_rows(folder.folder_id, upload.files, stored, payload)
    with _undone_on_failure(services, stored, media):
        _write_thumbnails(services, media, stored)
        with services.store.transaction():
            media = [services.store.add_media(m) for m in media]
            services.store.update_folder(folder)  # touch time_updated
    _enqueue(services, media, [])
    return media


def add_media_with_analyses(
    services: AppServices,
    user: User,
    folder: Folder,
    upload: ParsedUpload,
    payload: FolderPayload,
    requests: Sequence[AnalysisIn],
    *,
    with_rows: Callable[[list[Media]], None],
) -> tuple[list[Media], list[Analysis]]:
    """Media and the analyses of them in one transaction with `with_rows(media)`, which may refuse by
    raising (then nothing is written, the files included): a capture session's recording."""
    check_payload_media(services, upload.files, payload)
    _admit_analyses(services)
    stored = _ingest(services, upload.files, payload)
    media = _media_rows(folder.folder_id, upload.files, stored, payload)
    with _undone_on_failure(services, stored, media):
        analyses = _plan_analyses(services, user, folder, media, requests)
        _write_thumbnails(services, media, stored)
        with services.store.transaction():
            media = [services.store.add_media(m) for m in media]
            analyses = _write_analyses(services, folder, analyses)
            with_rows(media)
    _enqueue(services, media, analyses)
    return media, analyses


def start_analyses(
    services: AppServices, user: User, folder: Folder, requests: Sequence[AnalysisIn], endpoint: str | None
) -> tuple[list[Analysis], list[Media]]:
    """The analyses written, and the folder's media they were planned on (which their documents
    show: read before the write, so that no read after it can fail an answer whose work is done)."""
    _admit_analyses(services)
    media = services.store.list_media(folder.folder_id)
    planned = _plan_analyses(services, user, folder, media, requests)
    updated = replace(folder, resolution_endpoint=check_endpoint(services, endpoint)) if endpoint is not None else None

    def write_rows() -> list[Analysis]:  # run again if the database went away under it
        if updated is not None:
            services.store.update_folder(updated)
        return _write_analyses(services, folder, planned)

    analyses = services.store.run_transaction(write_rows)
    _enqueue(services, [], analyses)
    return analyses, media


def folder_document(services: AppServices, folder: Folder, *, with_analyses: bool) -> dict[str, Any]:
    media = services.store.list_media(folder.folder_id)
    analyses = services.store.list_analyses(folder.folder_id) if with_analyses else None
    return folder_to_wire(folder, media, analyses, services.urls)
