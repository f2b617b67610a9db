"""Instant mode: `POST /api/instant/folders/` analyses uploads and forgets them.

Nothing is written to the database or to disk: the upload stays in memory, decoders read it
through anonymous memory files, and the analyses run in this process's worker threads (there is
no queue to hand them to without writing them down). The answer has the folder's shape with
fresh ids; output images come inline as base64, since there is nothing to link to afterwards.
Face tracks are shared by the request's analyses in memory only, and dropped when it is answered.
"""

from __future__ import annotations

import base64
import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import anyio
import msgspec
from litestar import Controller, Request, post

from appliance.api.folder_service import check_analysis_type, check_payload_media, parse_payload
from appliance.api.schemas import FolderPayload
from appliance.api.security import CurrentUser
from appliance.api.services import Services
from appliance.api.uploads import ParsedUpload, read_multipart
from appliance.domain import policy
from appliance.domain.entities import Analysis
from appliance.domain.enums import WIRE_MEDIA_TYPE, AnalysisState
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.rules import analysis_resolution, folder_outcome
from appliance.media.memory import in_memory_file, probe_bytes
from appliance.sdk.context import AnalysisContext
from appliance.sdk.requests import build_request
from appliance.sdk.types import MediaInput, Outcome
from appliance.vision import VisionService
from appliance.wire import iso


def _forget_tracks(vision: VisionService, inputs: list[MediaInput]) -> None:
    for media in inputs:
        vision.forget(media.media_id)


def _payload(upload: ParsedUpload, services: Services) -> FolderPayload:
    payload = parse_payload(upload)
    if not payload.analyses:
        raise AppError(ErrorCode.PAYLOAD_INVALID, "the instant mode needs `analyses` in the payload")
    check_payload_media(services, upload.files, payload)
    for analysis in payload.analyses:
        check_analysis_type(analysis.type)
    return payload


def _run(services: Services, upload: ParsedUpload, payload: FolderPayload) -> dict[str, Any]:
    if not upload.files:
        raise AppError(ErrorCode.PAYLOAD_INVALID, "no media files in the request")
    now = datetime.now(UTC)
    thresholds = msgspec.structs.asdict(services.settings.thresholds)
    vision = services.vision
    inputs: list[MediaInput] = []
    with ExitStack() as stack:
        stack.callback(_forget_tracks, vision, inputs)
        for item in upload.files:
            data = item.file.getvalue()  # type: ignore[attr-defined]  # BytesIO: instant uploads stay in memory
            try:
                probe = probe_bytes(data, services.settings.limits)
            except AppError as exc:
                details = {**(exc.details or {}), "media_key": item.key}
                raise AppError(exc.code, f"{item.key}: {exc.message}", details) from exc
            path = stack.enter_context(in_memory_file(data, f".{probe.extension}"))
            inputs.append(
                MediaInput.from_facts(
                    probe,
                    media_id=str(uuid.uuid4()),
                    tags=payload.media_tags.get(item.key, ()),
                    path=path,
                    original_name=item.filename,
                )
            )
        analyses = [
            _analyse(services, request.type, request.params, request.source_media, inputs, thresholds, vision)
            for request in payload.analyses or []
        ]
    status, resolution = folder_outcome(a for a, _ in analyses)
    return {
        "folder_id": str(uuid.uuid4()),
        "resolution_status": status.value,
        "system_resolution": resolution.value,
        "meta_data": payload.folder_meta_data,
        "time_created": iso(now),
        "media": [
            {
                "media_id": m.media_id,
                "media_type": WIRE_MEDIA_TYPE[m.kind],
                "original_name": m.original_name,
                "tags": list(m.tags),
                "mime_type": m.mime_type,
                "width": m.width,
                "height": m.height,
                "frame_count": m.frame_count,
                "duration_seconds": m.duration_seconds,
            }
            for m in inputs
        ],
        "analyses": [doc for _, doc in analyses],
    }


def _analyse(
    services: Services,
    requested_type: str,
    params: dict[str, Any],
    source_media: list[str] | None,
    inputs: list[MediaInput],
    thresholds: dict[str, float],
    vision: VisionService,
) -> tuple[Analysis, dict[str, Any]]:
    analysis = Analysis(analysis_id=str(uuid.uuid4()), folder_id="", type=requested_type.strip().upper())
    spec = services.plugins.registry.get(analysis.type)
    outcome: Outcome | None = None
    if spec is None:
        analysis.error_code = int(ErrorCode.ANALYSIS_NO_PLUGIN)
        analysis.error_message = f"no installed plugin provides analysis type {analysis.type}"
    else:
        request = build_request(
            spec,
            analysis_id=analysis.analysis_id,
            params=params,
            media=inputs,
            thresholds=thresholds,
            source_media_ids=source_media,
        )
        analysis.source_media = [m.media_id for m in request.media]
        analysis.params = request.params
        try:
            outcome = spec.analyzer.analyze(request, AnalysisContext(thresholds, vision=vision))
        except Exception as exc:  # a plugin's failure becomes a FAILED analysis, as on a worker
            analysis.error_code = int(ErrorCode.ANALYSIS_PLUGIN_ERROR)
            analysis.error_message = f"{type(exc).__name__}: {exc}"
    analysis.state = AnalysisState.FINISHED if outcome else AnalysisState.FAILED
    analysis.resolution_status = analysis_resolution(analysis.state, outcome.resolution if outcome else None)
    doc = {
        "analyse_id": analysis.analysis_id,
        "analysis_id": analysis.analysis_id,
        "type": analysis.type,
        "state": analysis.state.value,
        "resolution_status": analysis.resolution_status.value,
        "resolution": analysis.resolution_status.value,
        "params": analysis.params,
        "source_media": analysis.source_media,
        "results_data": outcome.results_data if outcome else {},
        "results_media": [
            {
                "source_media_id": r.media_id,
                "results_data": r.results_data,
                "output_images": [
                    {"name": i.name, "data_base64": base64.b64encode(i.jpeg).decode(), "media_type": "image/jpeg"}
                    for i in r.output_images
                ],
            }
            for r in (outcome.results_media if outcome else ())
        ],
        "error_code": analysis.error_code,
        "error_message": analysis.error_message,
        "plugin": spec.plugin if spec else None,
        "plugin_version": spec.plugin_version if spec else None,
        "model_versions": outcome.model_versions if outcome else {},
    }
    return analysis, doc


class InstantController(Controller):
    path = "/api/instant/folders"
    tags = ["instant"]

    @post("/", status_code=200, summary="Analyse media without storing anything (answer when done)")
    async def instant(self, request: Request, services: Services, user: CurrentUser) -> dict[str, Any]:
        if not policy.can_create_folders(user):
            raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not run analyses")
        upload = await read_multipart(request, services.settings.limits, spool_dir=None)
        try:
            payload = _payload(upload, services)
            for analysis in payload.analyses or []:
                if not policy.can_start_analysis(user, analysis.type):
                    message = f"this user may not start {analysis.type.upper()} analyses"
                    raise AppError(ErrorCode.AUTH_FORBIDDEN, message)
            return await anyio.to_thread.run_sync(_run, services, upload, payload)
        finally:
            upload.close()


__all__ = ["InstantController"]
