"""The work behind each queue: plain functions of ids, which the Huey tasks of `appliance.core.queues` call.

Every task re-reads what it needs from the store and writes conditionally, so a task that runs
twice, late, or after its analysis was retried elsewhere does no harm. Logs carry ids, types,
durations and outcomes only: never media content, embeddings or meta_data (biometric and
personal data stays out of logs).
"""

from __future__ import annotations

import dataclasses
import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from appliance.core.analysis import AnalysisFailed, PluginRaised, analyze, analyzer_for, results_media_items
from appliance.core.services import AppServices
from appliance.core.webhooks import SendOutcome, Sent
from appliance.domain.entities import Analysis, Folder, Media, WebhookDelivery
from appliance.domain.enums import DeliveryStatus, FolderStatus, MediaKind, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.retries import retry_delay
from appliance.domain.rules import FINAL_FOLDER_STATUSES, folder_outcome
from appliance.media import make_shots_preview, make_thumbnail
from appliance.media.storage.base import PREVIEW, THUMBNAIL, output_image_name
from appliance.ops import metrics
from appliance.queue import webhook_signing
from appliance.queue.context import get_services
from appliance.queue.leases import held_analyses
from appliance.sdk.context import AnalysisContext
from appliance.sdk.requests import build_request
from appliance.sdk.types import AnalysisRequest, AnalyzerSpec, MediaInput, Outcome
from appliance.wire import folder_to_wire

__all__ = ["deliver_webhook", "make_preview", "resolve_folder", "run_analyses"]

log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


# Analyses -----------------------------------------------------------------------------------------


def run_analyses(*analysis_ids: str) -> None:
    """Run analyses one after another: those a folder asked for together, which read the same media.

    The start of each is recorded, with a lease renewed while this task runs, as soon as the
    worker takes the task (`leases.held_analyses`), before the plugins and models are loaded. In
    one worker, the second analysis finds the face track the first computed in the process's
    memory. As separate tasks, two workers would take them at once and one would wait on the
    other's track lock, idle while other folders queue. An appliance error in one (database,
    disk) does not keep the others from running; the first such error is raised once all have run.
    """
    services = get_services()
    first_error: Exception | None = None
    with held_analyses(services.store, analysis_ids, services.settings.queue.lease_seconds) as attempts:
        for analysis_id, attempt in attempts.items():
            try:
                _run_analysis(services, analysis_id, attempt)
            except Exception as exc:  # raised below, after the rest of the group has had its run
                log.error("analysis %s: %s: %s", analysis_id, type(exc).__name__, exc)
                first_error = first_error or exc
    if first_error is not None:
        raise first_error


def _run_analysis(services: AppServices, analysis_id: str, attempt: int) -> None:
    """Run attempt `attempt` of an analysis; record its outcome, a retry, or its failure.

    Errors of the appliance itself (database, disk) propagate: Huey logs them, and the expiry
    job retries the run once its lease lapses or `processing_timeout_seconds` have passed.
    """
    analysis = services.store.get_analysis(analysis_id)
    if analysis is None:
        log.info("analysis %s was deleted after it started", analysis_id)
        return
    started = time.monotonic()
    type_label = metrics.analysis_type_label(analysis.type, services.plugins.registry.types())
    with metrics.analysis_running(type_label):
        try:
            resolution = _attempt(services, analysis, attempt)
        except AnalysisFailed as exc:
            written = services.store.fail_analysis(
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
        services.queues.enqueue_resolve(analysis.folder_id)


def _attempt(services: AppServices, analysis: Analysis, attempt: int) -> Resolution | None:
    """Run the plugin once. The resolution recorded when the analysis reached a final state in
    this attempt, else None (retried later, deleted, or superseded by a newer attempt)."""
    spec = analyzer_for(services.plugins, analysis.type)
    folder = services.store.get_folder(analysis.folder_id)
    if folder is None:
        return None  # deleted with its analyses while this ran
    with metrics.stage("prepare"):
        request = _request(services, spec, analysis, folder)
    started = time.monotonic()
    context = AnalysisContext(
        request.thresholds, vision=services.vision, services=services.plugin_services.get(spec.plugin)
    )
    try:
        outcome = analyze(spec, request, context)
    except PluginRaised as exc:
        log.warning(
            "analysis %s type %s attempt %d: plugin %s raised %s after %.3f s",
            analysis.analysis_id,
            spec.type,
            attempt,
            spec.plugin,
            type(exc.error).__name__,
            time.monotonic() - started,
        )
        _retry_or_fail(services, analysis, attempt, exc)
        return None
    with metrics.stage("save"):
        results_media = _save_outputs(services, analysis.analysis_id, outcome)
        written = services.store.finish_analysis(
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


def _request(services: AppServices, spec: AnalyzerSpec, analysis: Analysis, folder: Folder) -> AnalysisRequest:
    media = [_media_input(services, m) for m in services.store.list_media(folder.folder_id)]
    try:
        request = build_request(
            spec,
            analysis_id=analysis.analysis_id,
            params=analysis.params,
            media=media,
            thresholds=msgspec.structs.asdict(services.settings.thresholds),
            folder_meta_data=folder.meta_data,
            source_media_ids=analysis.source_media or None,
            company_id=folder.company_id,
        )
    except AppError as exc:  # a source media was deleted, or too few are left
        raise AnalysisFailed(ErrorCode.ANALYSIS_MEDIA_MISSING, exc.message) from exc
    # A local path to decode for each source media (the object backend fetches it into its cache).
    stored = {m.media_id: m for m in services.store.list_media(folder.folder_id)}
    inputs, missing = [], []
    for item in request.media:
        row = stored.get(item.media_id)
        try:
            if row is None:
                raise FileNotFoundError(item.media_id)
            inputs.append(dataclasses.replace(item, path=services.storage.local_path(row.sha256, row.extension)))
        except FileNotFoundError:
            missing.append(item.media_id)
    if missing:
        raise AnalysisFailed(
            ErrorCode.ANALYSIS_MEDIA_MISSING, f"the stored file of media {', '.join(missing)} is missing"
        )
    return dataclasses.replace(request, media=tuple(inputs))


def _media_input(services: AppServices, media: Media) -> MediaInput:
    """The media as a source of a request, its path set once it is chosen (`_request`)."""
    return MediaInput.from_facts(
        media, media_id=media.media_id, tags=media.tags, path=Path(), original_name=media.original_name
    )


def _retry_or_fail(services: AppServices, analysis: Analysis, attempt: int, raised: PluginRaised) -> None:
    """After a plugin exception: requeue with backoff while attempts are left, else FAILED."""
    cfg = services.settings.analysis
    if attempt >= cfg.max_attempts:
        raise AnalysisFailed(ErrorCode.ANALYSIS_PLUGIN_ERROR, str(raised)) from raised
    if services.store.requeue_analysis(analysis.analysis_id, attempt, _now()):
        delay = retry_delay(cfg.retry_delay_seconds, attempt)
        services.queues.enqueue_analysis(analysis.analysis_id, delay=delay)
        log.info("analysis %s requeued for attempt %d in %g s", analysis.analysis_id, attempt + 1, delay)


def _save_outputs(services: AppServices, analysis_id: str, outcome: Outcome) -> list[dict[str, Any]]:
    """Write the (checked) outcome's output images; return the analysis's `results_media` items."""
    for result in outcome.results_media:
        for image in result.output_images:
            services.storage.put_derived(result.media_id, output_image_name(analysis_id, image.name), image.jpeg)
    return results_media_items(outcome)


# Folders and webhooks -----------------------------------------------------------------------------


def resolve_folder(folder_id: str) -> None:
    """Set the folder's status and result from its analyses; on reaching a final status, queue
    its webhooks. Only the resolver whose write changed the status creates deliveries."""
    services = get_services()
    store = services.store
    folder = store.get_folder(folder_id)
    if folder is None:
        return

    # Lock, read and write in one transaction: a resolver that read the analyses before the last
    # one finished cannot write its stale PROCESSING over a newer final status. Run again if the
    # database went away under it: a second run finds the status written and creates nothing.
    def resolve() -> tuple[FolderStatus, Resolution, bool, list[WebhookDelivery]] | None:
        if not store.lock_folder(folder_id):
            return None
        status, resolution = folder_outcome(store.list_analyses(folder_id))
        changed = store.set_folder_outcome(folder_id, status, resolution)
        deliveries: list[WebhookDelivery] = []
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
                for url in _webhook_urls(services, folder)
            ]
        return status, resolution, changed, deliveries

    resolved = store.run_transaction(resolve, idempotent=True)
    if resolved is None:
        return
    status, resolution, changed, deliveries = resolved
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
        services.queues.enqueue_webhook(delivery.delivery_id)


def _webhook_urls(services: AppServices, folder: Folder) -> list[str]:
    """The folder's own endpoint and its company's webhook URL, each once."""
    urls = [folder.resolution_endpoint]
    if folder.company_id is not None:
        company = services.store.get_company(folder.company_id)
        urls.append(company.webhook_url if company else None)
    return list(dict.fromkeys(u for u in urls if u))


def _webhook_body(services: AppServices, folder: Folder) -> bytes:
    """The JSON a webhook carries: the folder document of `GET /api/folders/{id}?with_analyses=true`."""
    media = services.store.list_media(folder.folder_id)
    analyses = services.store.list_analyses(folder.folder_id)
    return msgspec.json.encode(folder_to_wire(folder, media, analyses, services.urls))


def deliver_webhook(delivery_id: str) -> None:
    """POST a PENDING delivery once. Failures are recorded on the delivery, with the next attempt
    due after an exponential backoff; the retry_webhooks job enqueues it again when due."""
    services = get_services()
    store = services.store
    cfg = services.settings.webhooks
    delivery = store.get_delivery(delivery_id)
    if delivery is None or delivery.status is not DeliveryStatus.PENDING:
        return
    folder = store.get_folder(delivery.folder_id)
    if folder is None:
        return
    company = store.get_company(folder.company_id) if folder.company_id else None
    secret = company.webhook_secret if company else cfg.system_secret
    body = _webhook_body(services, folder)
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
    sent = services.webhook_targets.post(delivery.url, body, headers, cfg.timeout_seconds)
    elapsed = time.monotonic() - started
    if sent.outcome is SendOutcome.DELIVERED:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.attempts += 1
        delivery.last_status_code, delivery.last_error, delivery.next_attempt_at = sent.status_code, None, None
        store.update_delivery(delivery)
        metrics.WEBHOOK_DELIVERIES.labels("delivered").inc()
        log.info(
            "webhook %s of folder %s delivered (HTTP %s) in %.3f s",
            delivery_id,
            folder.folder_id,
            sent.status_code,
            elapsed,
        )
        return
    _record_failure(services, delivery, sent)
    metrics.WEBHOOK_DELIVERIES.labels("failed" if delivery.status is DeliveryStatus.FAILED else "retrying").inc()
    log.warning(
        "webhook %s of folder %s attempt %d failed (%s) in %.3f s; %s",
        delivery_id,
        folder.folder_id,
        delivery.attempts,
        sent.error,
        elapsed,
        "giving up"
        if delivery.status is DeliveryStatus.FAILED
        else f"next attempt at {delivery.next_attempt_at:%H:%M:%S}Z",
    )


def _record_failure(services: AppServices, delivery: WebhookDelivery, sent: Sent) -> None:
    """A failed attempt: tried again after a backoff, up to `webhooks.max_attempts`; a refused target never."""
    cfg = services.settings.webhooks
    delivery.attempts += 1
    delivery.last_status_code = sent.status_code
    delivery.last_error = sent.error
    if sent.outcome is SendOutcome.REFUSED or delivery.attempts >= cfg.max_attempts:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    else:
        delay = retry_delay(cfg.retry_delay_seconds, delivery.attempts)
        delivery.next_attempt_at = _now() + timedelta(seconds=delay)
    services.store.update_delivery(delivery)


# Media --------------------------------------------------------------------------------------------


def make_preview(media_id: str) -> None:
    """Make the thumbnail of a media (and the MP4 preview of a shot set), then flag the media row."""
    services = get_services()
    media = services.store.get_media(media_id)
    if media is None:
        return
    started = time.monotonic()
    try:
        source = services.storage.local_path(media.sha256, media.extension)
    except FileNotFoundError:
        log.warning("media %s: no stored file to make previews from", media_id)
        return
    with services.storage.derived_target(media_id, THUMBNAIL) as thumbnail:
        make_thumbnail(source, media.kind, thumbnail)
    has_preview = media.kind is MediaKind.SHOTS_SET
    if has_preview:
        with services.storage.derived_target(media_id, PREVIEW) as preview:
            make_shots_preview(source, preview)
    # Re-read: the row may have changed (or gone) while the files were being made.
    current = services.store.get_media(media_id)
    if current is None:
        services.storage.delete_derived(media_id)
        return
    current.has_thumbnail = True
    current.has_preview = current.has_preview or has_preview
    services.store.update_media(current)
    log.info("media %s kind %s: previews made in %.3f s", media_id, media.kind.value, time.monotonic() - started)
