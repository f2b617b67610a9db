"""Instant mode: `POST /api/instant/folders/` analyses uploads and forgets them.

Nothing is written to the database or to disk: the upload stays in memory, decoders read it
through anonymous memory files, and the analyses run in this process's worker threads (there is
no queue to hand them to without writing them down). The answer has the folder's shape with
fresh ids; output images come inline as base64, since there is nothing to link to afterwards.
Face tracks are shared by the request's analyses in memory only, and dropped when it is answered.
"""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from datetime import UTC, datetime
from typing import Any

import anyio
import msgspec
from litestar import Controller, Request, post

from appliance.api.folder_service import check_media_tags, check_payload_media, installed_analysis, parse_payload
from appliance.api.schemas import AnalysisIn, FolderPayload
from appliance.api.security import CurrentUser
from appliance.core.analysis import AnalysisFailed, PluginRaised, analyze, analyzer_for, results_media_items
from appliance.core.providers import Services
from appliance.core.services import AppServices
from appliance.domain import policy
from appliance.domain.entities import Analysis, Folder
from appliance.domain.enums import AnalysisState, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.rules import analysis_resolution, folder_outcome
from appliance.media.memory import in_memory_file, probe_bytes
from appliance.sdk.context import AnalysisContext
from appliance.sdk.requests import build_request
from appliance.sdk.types import MediaInput
from appliance.vision import VisionService
from appliance.web.uploads import ParsedUpload, read_multipart
from appliance.wire import instant_folder_to_wire

#: Output images of an instant folder, by (media id, image name): they go inline into the answer.
Images = dict[tuple[str, str], bytes]


def _forget_tracks(vision: VisionService, inputs: list[MediaInput]) -> None:
    """Face tracks are shared by the request's analyses in memory only, and dropped with it."""
    for media in inputs:
        vision.forget(media.media_id)


def _payload(upload: ParsedUpload, services: AppServices) -> FolderPayload:
    payload = parse_payload(upload)
    if not payload.analyses:
        raise AppError(ErrorCode.PAYLOAD_INVALID, "the instant mode needs `analyses` in the payload")
    check_payload_media(services, upload.files, payload)
    for analysis in payload.analyses:
        installed_analysis(services, analysis.type)
    return payload


def _run(services: AppServices, upload: ParsedUpload, payload: FolderPayload) -> dict[str, Any]:
    if not upload.files:
        raise AppError(ErrorCode.PAYLOAD_INVALID, "no media files in the request")
    folder = Folder(folder_id=str(uuid.uuid4()), company_id=None, user_id="", time_created=datetime.now(UTC))
    folder.meta_data = payload.folder_meta_data
    thresholds = msgspec.structs.asdict(services.settings.thresholds)
    inputs: list[MediaInput] = []
    images: Images = {}
    with ExitStack() as stack:
        stack.callback(_forget_tracks, services.vision, inputs)
        for item in upload.files:
            data = item.file.getvalue()  # type: ignore[attr-defined]  # BytesIO: instant uploads stay in memory
            try:
                probe = probe_bytes(data, services.settings.limits)
            except AppError as exc:
                details = {**(exc.details or {}), "media_key": item.key}
                raise AppError(exc.code, f"{item.key}: {exc.message}", details) from exc
            check_media_tags(item.key, payload.media_tags.get(item.key, ()), probe.kind)
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
        analyses = [_analyse(services, asked, inputs, thresholds, images) for asked in payload.analyses or []]
    folder.resolution_status, folder.system_resolution = folder_outcome(analyses)
    return instant_folder_to_wire(folder, inputs, analyses, images)


def _analyse(
    services: AppServices, asked: AnalysisIn, inputs: list[MediaInput], thresholds: dict[str, float], images: Images
) -> Analysis:
    """Run one analysis through the appliance's checked run, as a worker would; its output images
    go into `images`."""
    analysis = Analysis(analysis_id=str(uuid.uuid4()), folder_id="", type=asked.type.strip().upper())
    decision: Resolution | None = None
    try:
        spec = analyzer_for(services.plugins, analysis.type)
        analysis.plugin, analysis.plugin_version = spec.plugin, spec.plugin_version
        request = build_request(
            spec,
            analysis_id=analysis.analysis_id,
            params=asked.params,
            media=inputs,
            thresholds=thresholds,
            source_media_ids=asked.source_media,
        )
        analysis.source_media = [m.media_id for m in request.media]
        analysis.params = request.params
        outcome = analyze(spec, request, AnalysisContext(thresholds, vision=services.vision))
    except AnalysisFailed as exc:
        analysis.state, analysis.error_code, analysis.error_message = AnalysisState.FAILED, int(exc.code), exc.message
    except PluginRaised as exc:  # no retries here: the caller waits for this answer
        analysis.state = AnalysisState.FAILED
        analysis.error_code, analysis.error_message = int(ErrorCode.ANALYSIS_PLUGIN_ERROR), str(exc)
    else:
        analysis.state, decision = AnalysisState.FINISHED, outcome.resolution
        analysis.results_data, analysis.model_versions = outcome.results_data, outcome.model_versions
        analysis.results_media = results_media_items(outcome)
        for result in outcome.results_media:
            images.update(((result.media_id, image.name), image.jpeg) for image in result.output_images)
    analysis.resolution_status = analysis_resolution(analysis.state, decision)
    return analysis


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
