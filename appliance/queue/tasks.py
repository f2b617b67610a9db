"""The work behind each queue: plain functions of ids, which the Huey tasks in `queues.py` call.

Every task re-reads what it needs from the store and writes conditionally, so a task that runs
twice, late, or after its analysis was retried elsewhere does no harm. Logs carry ids, types,
durations and outcomes only: never media content, embeddings or meta_data (biometric and
personal data stays out of logs).
"""

from __future__ import annotations

import logging
import os
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import msgspec

from appliance.domain.entities import Analysis, Folder, Media, WebhookDelivery
from appliance.domain.enums import MediaKind, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.rules import FINAL_FOLDER_STATUSES, folder_outcome
from appliance.media import make_shots_preview, make_thumbnail
from appliance.ops import metrics
from appliance.queue import webhook_signing
from appliance.queue.context import WorkerContext, get_context
from appliance.sdk.context import AnalysisContext
from appliance.sdk.requests import build_request
from appliance.sdk.types import AnalysisRequest, AnalyzerSpec, MediaInput, Outcome
from appliance.wire import folder_to_wire

__all__ = ["deliver_webhook", "make_preview", "resolve_folder", "run_analyses", "run_analysis"]

log = logging.getLogger(__name__)

#: Names of output images: they become file names and URL path segments.
OUTPUT_NAME = re.compile(r"[a-z0-9_-]{1,64}")
_JPEG_MAGIC = b"\xff\xd8\xff"


def _now() -> datetime:
    return datetime.now(UTC)


class _AnalysisFailed(Exception):
    """The analysis cannot succeed in any attempt: record it FAILED with this code and message."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# Analyses -----------------------------------------------------------------------------------------


def run_analyses(*analysis_ids: str) -> None:
    """Run analyses one after another: those a folder asked for together, which read the same media.

    In one worker, the second finds the face track the first computed in the process's memory.
    As separate tasks, two workers would take them at once and one would wait on the other's
    track lock, idle while other folders queue. An appliance error in one (database, disk) does
    not keep the others from running; the first such error is raised once all have run.
    """
    first_error: Exception | None = None
    for analysis_id in analysis_ids:
        try:
            run_analysis(analysis_id)
        except Exception as exc:  # raised below, after the rest of the group has had its run
            log.error("analysis %s: %s: %s", analysis_id, type(exc).__name__, exc)
            first_error = first_error or exc
    if first_error is not None:
        raise first_error


def run_analysis(analysis_id: str) -> None:
    """Run one attempt of an analysis; record its outcome, a retry, or its failure.

    Errors of the appliance itself (database, disk) propagate: Huey logs them, and the expiry
    job retries the run once `processing_timeout_seconds` have passed.
    """
    ctx = get_context()
    attempt = ctx.store.start_analysis(analysis_id, _now())
    if attempt is None:
        log.info("analysis %s is no longer PROCESSING; nothing to do", analysis_id)
        return
    analysis = ctx.store.get_analysis(analysis_id)
    if analysis is None:
        log.info("analysis %s was deleted after it started", analysis_id)
        return
    started = time.monotonic()
    type_label = metrics.analysis_type_label(analysis.type, ctx.plugins.registry.types())
    with metrics.analysis_running(type_label):
        try:
            resolution = _attempt(ctx, analysis, attempt)
        except _AnalysisFailed as exc:
            written = ctx.store.fail_analysis(
                analysis_id, attempt, error_code=exc.code, error_message=exc.message, now=_now()
            )
            resolution = Resolution.FAILED if written else None
            log.warning(
                "analysis %s type %s attempt %d %s %s after %.3f s",
                analysis_id,
                analysis.type,
                attempt,
                "FAILED with" if written else "superseded; not recording",
                exc.code.name,
                time.monotonic() - started,
            )
    if resolution is not None:
        metrics.analysis_finished(type_label, resolution, time.monotonic() - started)
        ctx.queues.enqueue_resolve(analysis.folder_id)


def _attempt(ctx: WorkerContext, analysis: Analysis, attempt: int) -> Resolution | None:
    """Run the plugin once. The resolution recorded when the analysis reached a final state in
    this attempt, else None (retried later, deleted, or superseded by a newer attempt)."""
    spec = ctx.plugins.registry.get(analysis.type)
    if spec is None:
        raise _AnalysisFailed(
            ErrorCode.ANALYSIS_NO_PLUGIN, f"no installed plugin provides analysis type {analysis.type}"
        )
    folder = ctx.store.get_folder(analysis.folder_id)
    if folder is None:
        return None  # deleted with its analyses while this ran
    with metrics.stage("prepare"):
        request = _request(ctx, spec, analysis, folder)
    started = time.monotonic()
    try:
        with metrics.stage("analyze"):
            services = ctx.plugin_services.get(spec.plugin)
            outcome = spec.analyzer.analyze(
                request, AnalysisContext(request.thresholds, vision=ctx.vision, services=services)
            )
    except Exception as exc:  # a plugin may raise anything: each failure is one spent attempt
        log.warning(
            "analysis %s type %s attempt %d: plugin %s raised %s after %.3f s",
            analysis.analysis_id,
            spec.type,
            attempt,
            spec.plugin,
            type(exc).__name__,
            time.monotonic() - started,
        )
        _retry_or_fail(ctx, analysis, attempt, exc)
        return None
    if not isinstance(outcome, Outcome):
        raise _AnalysisFailed(
            ErrorCode.ANALYSIS_PLUGIN_ERROR, f"analyze returned {type(outcome).__name__}, not an Outcome"
        )
    with metrics.stage("save"):
        results_media = _save_outputs(ctx, analysis.analysis_id, request, outcome)
        written = ctx.store.finish_analysis(
            analysis.analysis_id,
            attempt,
            resolution=outcome.resolution,
            results_data=outcome.results_data,
            results_media=results_media,
            plugin=spec.plugin,
            plugin_version=spec.plugin_version,
            model_versions=outcome.model_versions,
            now=_now(),
        )
    log.info(
        "analysis %s type %s attempt %d %s in %.3f s",
        analysis.analysis_id,
        spec.type,
        attempt,
        f"FINISHED {outcome.resolution.value}" if written else "superseded by a newer attempt; result dropped",
        time.monotonic() - started,
    )
    return outcome.resolution if written else None


def _request(ctx: WorkerContext, spec: AnalyzerSpec, analysis: Analysis, folder: Folder) -> AnalysisRequest:
    media = [_media_input(ctx, m) for m in ctx.store.list_media(folder.folder_id)]
    try:
        request = build_request(
            spec,
            analysis_id=analysis.analysis_id,
            params=analysis.params,
            media=media,
            thresholds=msgspec.structs.asdict(ctx.settings.thresholds),
            folder_meta_data=folder.meta_data,
            source_media_ids=analysis.source_media or None,
            company_id=folder.company_id,
        )
    except AppError as exc:  # a source media was deleted, or too few are left
        raise _AnalysisFailed(ErrorCode.ANALYSIS_MEDIA_MISSING, exc.message) from exc
    missing = [m.media_id for m in request.media if not m.path.is_file()]
    if missing:
        raise _AnalysisFailed(
            ErrorCode.ANALYSIS_MEDIA_MISSING, f"the stored file of media {', '.join(missing)} is missing"
        )
    return request


def _media_input(ctx: WorkerContext, media: Media) -> MediaInput:
    return MediaInput.from_facts(
        media,
        media_id=media.media_id,
        tags=media.tags,
        path=ctx.storage.path_for(media.sha256, media.extension),
        original_name=media.original_name,
    )


def _retry_or_fail(ctx: WorkerContext, analysis: Analysis, attempt: int, exc: Exception) -> None:
    """After a plugin exception: requeue with backoff while attempts are left, else FAILED."""
    cfg = ctx.settings.analysis
    if attempt >= cfg.max_attempts:
        raise _AnalysisFailed(ErrorCode.ANALYSIS_PLUGIN_ERROR, f"{type(exc).__name__}: {exc}") from exc
    if ctx.store.requeue_analysis(analysis.analysis_id, attempt, _now()):
        delay = cfg.retry_delay_seconds * 2 ** (attempt - 1)
        ctx.queues.enqueue_analysis(analysis.analysis_id, delay=delay)
        log.info("analysis %s requeued for attempt %d in %g s", analysis.analysis_id, attempt + 1, delay)


def _save_outputs(
    ctx: WorkerContext, analysis_id: str, request: AnalysisRequest, outcome: Outcome
) -> list[dict[str, Any]]:
    """Write the outcome's output images; return the analysis's `results_media` items.

    Everything is checked before anything is written: media ids and names come from the plugin
    and end up in paths.
    """
    _check_outputs(request, outcome)
    items: list[dict[str, Any]] = []
    for result in outcome.results_media:
        directory = ctx.storage.output_dir(result.media_id) / analysis_id
        for image in result.output_images:
            _write_atomically(directory / f"{image.name}.jpg", image.jpeg)
        items.append(
            {
                "source_media_id": result.media_id,
                "results_data": result.results_data,
                "output_images": [{"name": image.name} for image in result.output_images],
            }
        )
    return items


def _check_outputs(request: AnalysisRequest, outcome: Outcome) -> None:
    """Raise ANALYSIS_PLUGIN_ERROR unless each result names a distinct source media and its images
    are JPEGs with distinct names matching `OUTPUT_NAME`."""
    source_ids = {m.media_id for m in request.media}
    seen: set[str] = set()
    for result in outcome.results_media:
        if result.media_id not in source_ids or result.media_id in seen:
            raise _AnalysisFailed(
                ErrorCode.ANALYSIS_PLUGIN_ERROR,
                f"a result names media {result.media_id!r}: not a source media, or named twice",
            )
        seen.add(result.media_id)
        names = [image.name for image in result.output_images]
        for image in result.output_images:
            if not OUTPUT_NAME.fullmatch(image.name) or names.count(image.name) > 1:
                raise _AnalysisFailed(
                    ErrorCode.ANALYSIS_PLUGIN_ERROR,
                    f"output image name {image.name!r} must be unique and match {OUTPUT_NAME.pattern}",
                )
            if not image.jpeg.startswith(_JPEG_MAGIC):
                raise _AnalysisFailed(ErrorCode.ANALYSIS_PLUGIN_ERROR, f"output image {image.name!r} is not a JPEG")


def _write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and a rename, so a reader never sees half an image."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# Folders and webhooks -----------------------------------------------------------------------------


def resolve_folder(folder_id: str) -> None:
    """Set the folder's status and result from its analyses; on reaching a final status, queue
    its webhooks. Only the resolver whose write changed the status creates deliveries."""
    ctx = get_context()
    store = ctx.store
    folder = store.get_folder(folder_id)
    if folder is None:
        return
    deliveries: list[WebhookDelivery] = []
    # Lock, read and write in one transaction: a resolver that read the analyses before the last
    # one finished cannot write its stale PROCESSING over a newer final status.
    with store.transaction():
        if not store.lock_folder(folder_id):
            return
        status, resolution = folder_outcome(store.list_analyses(folder_id))
        changed = store.set_folder_outcome(folder_id, status, resolution)
        if changed and status in FINAL_FOLDER_STATUSES:
            now = _now()
            deliveries = [
                store.create_delivery(
                    WebhookDelivery(
                        delivery_id=str(uuid.uuid4()),
                        folder_id=folder_id,
                        url=url,
                        company_id=folder.company_id,
                        next_attempt_at=now,
                    )
                )
                for url in _webhook_urls(ctx, folder)
            ]
    log.info(
        "folder %s resolved %s/%s%s; %d webhook(s)",
        folder_id,
        status.value,
        resolution.value,
        "" if changed else " (unchanged)",
        len(deliveries),
    )
    # After the commit: a crash before this point leaves PENDING deliveries that retry_webhooks finds.
    for delivery in deliveries:
        ctx.queues.enqueue_webhook(delivery.delivery_id)


def _webhook_urls(ctx: WorkerContext, folder: Folder) -> list[str]:
    """The folder's own endpoint and its company's webhook URL, each once."""
    urls = [folder.resolution_endpoint]
    if folder.company_id is not None:
        company = ctx.store.get_company(folder.company_id)
        urls.append(company.webhook_url if company else None)
    return list(dict.fromkeys(u for u in urls if u))


def _webhook_body(ctx: WorkerContext, folder: Folder) -> bytes:
    """The JSON a webhook carries: the folder document of `GET /api/folders/{id}?with_analyses=true`."""
    media = ctx.store.list_media(folder.folder_id)
    analyses = ctx.store.list_analyses(folder.folder_id)
    return msgspec.json.encode(folder_to_wire(folder, media, analyses, ctx.urls))


def deliver_webhook(delivery_id: str) -> None:
    """POST a PENDING delivery once. Failures are recorded on the delivery, with the next attempt
    due after an exponential backoff; the retry_webhooks job enqueues it again when due."""
    ctx = get_context()
    store = ctx.store
    cfg = ctx.settings.webhooks
    delivery = store.get_delivery(delivery_id)
    if delivery is None or delivery.status != "PENDING":
        return
    folder = store.get_folder(delivery.folder_id)
    if folder is None:
        return
    company = store.get_company(folder.company_id) if folder.company_id else None
    secret = company.webhook_secret if company else cfg.system_secret
    body = _webhook_body(ctx, folder)
    # Lease: while this call runs, retry_webhooks must not see the delivery as due. If this
    # worker dies mid-call, the lease runs out and the delivery is retried.
    delivery.next_attempt_at = _now() + timedelta(seconds=cfg.timeout_seconds + cfg.retry_delay_seconds)
    delivery = store.update_delivery(delivery)
    headers = {
        "Content-Type": "application/json",
        "X-Appliance-Event": delivery.event,
        "X-Appliance-Delivery": delivery.delivery_id,
        webhook_signing.SIGNATURE_HEADER: webhook_signing.sign(secret, body, int(time.time())),
    }
    started = time.monotonic()
    status_code, error = _post(delivery.url, body, headers, cfg.timeout_seconds)
    elapsed = time.monotonic() - started
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = "DELIVERED"
        delivery.attempts += 1
        delivery.last_status_code, delivery.last_error, delivery.next_attempt_at = status_code, None, None
        store.update_delivery(delivery)
        metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
        log.info(
            "webhook %s of folder %s delivered (HTTP %d) in %.3f s", delivery_id, folder.folder_id, status_code, elapsed
        )
        return
    _record_failure(ctx, delivery, status_code, error)
    metrics.WEBHOOK_DELIVERIES.labels("failed" if delivery.status == "FAILED" else "retrying").inc()
    log.warning(
        "webhook %s of folder %s attempt %d failed (%s) in %.3f s; %s",
        delivery_id,
        folder.folder_id,
        delivery.attempts,
        error,
        elapsed,
        "giving up" if delivery.status == "FAILED" else f"next attempt at {delivery.next_attempt_at:%H:%M:%S}Z",
    )


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int | None, str]:
    """(HTTP status or None, error text). Redirects are not followed: a webhook URL is exact."""
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    return response.status_code, f"HTTP {response.status_code}"


def _record_failure(ctx: WorkerContext, delivery: WebhookDelivery, status_code: int | None, error: str) -> None:
    cfg = ctx.settings.webhooks
    delivery.attempts += 1
    delivery.last_status_code = status_code
    delivery.last_error = error
    if delivery.attempts >= cfg.max_attempts:
        delivery.status = "FAILED"
        delivery.next_attempt_at = None
    else:
        delay = cfg.retry_delay_seconds * 2 ** (delivery.attempts - 1)
        delivery.next_attempt_at = _now() + timedelta(seconds=delay)
    ctx.store.update_delivery(delivery)


# Media --------------------------------------------------------------------------------------------


def make_preview(media_id: str) -> None:
    """Make the thumbnail of a media (and the MP4 preview of a shot set), then flag the media row."""
    ctx = get_context()
    media = ctx.store.get_media(media_id)
    if media is None:
        return
    started = time.monotonic()
    source = ctx.storage.path_for(media.sha256, media.extension)
    make_thumbnail(source, media.kind, ctx.storage.thumbnail_path(media_id))
    has_preview = media.kind is MediaKind.SHOTS_SET
    if has_preview:
        make_shots_preview(source, ctx.storage.preview_path(media_id))
    # Re-read: the row may have changed (or gone) while the files were being made.
    current = ctx.store.get_media(media_id)
    if current is None:
        ctx.storage.delete_derived(media_id)
        return
    current.has_thumbnail = True
    current.has_preview = current.has_preview or has_preview
    ctx.store.update_media(current)
    log.info("media %s kind %s: previews made in %.3f s", media_id, media.kind.value, time.monotonic() - started)
