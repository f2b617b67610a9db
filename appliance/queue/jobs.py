"""Maintenance jobs, run on the maintenance queue when the scheduler enqueues them.

Each job reads the database afresh and is safe to run twice or concurrently: every write it
makes is conditional in the store (an analysis is requeued or failed only in the attempt it was
seen in), so the worst case is an extra, harmless task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from appliance.domain.enums import Resolution
from appliance.domain.errors import ErrorCode
from appliance.ops import metrics
from appliance.queue.cleanup import delete_folder_and_files
from appliance.queue.context import get_context

__all__ = ["JOBS", "expire_analyses", "retention", "retry_webhooks", "run_job"]

log = logging.getLogger(__name__)

#: Folders deleted per store query by the retention job.
RETENTION_BATCH = 500


def expire_analyses() -> dict[str, int]:
    """Retry or fail analyses whose worker died or hung, and fail those no worker picked up."""
    ctx = get_context()
    cfg = ctx.settings.analysis
    now = datetime.now(UTC)
    stuck = ctx.store.list_stuck_analyses(
        started_before=now - timedelta(seconds=cfg.processing_timeout_seconds),
        queued_before=now - timedelta(seconds=cfg.delivery_timeout_seconds),
    )
    counts = {"requeued": 0, "processing_expired": 0, "delivery_expired": 0}
    installed = ctx.plugins.registry.types()
    folders: set[str] = set()
    for analysis in stuck:
        if analysis.time_started is None:
            message = f"no worker started the analysis within {cfg.delivery_timeout_seconds:g} s"
            if ctx.store.fail_analysis(
                analysis.analysis_id,
                None,
                error_code=ErrorCode.ANALYSIS_DELIVERY_EXPIRED,
                error_message=message,
                now=now,
            ):
                counts["delivery_expired"] += 1
                metrics.analysis_finished(metrics.analysis_type_label(analysis.type, installed), Resolution.FAILED)
                folders.add(analysis.folder_id)
        elif analysis.attempt < cfg.max_attempts:
            if ctx.store.requeue_analysis(analysis.analysis_id, analysis.attempt, now):
                ctx.queues.enqueue_analysis(analysis.analysis_id)
                counts["requeued"] += 1
        else:
            message = (
                f"run {analysis.attempt} exceeded {cfg.processing_timeout_seconds:g} s "
                "(the worker crashed or hung); no attempts left"
            )
            if ctx.store.fail_analysis(
                analysis.analysis_id,
                analysis.attempt,
                error_code=ErrorCode.ANALYSIS_PROCESSING_EXPIRED,
                error_message=message,
                now=now,
            ):
                counts["processing_expired"] += 1
                metrics.analysis_finished(metrics.analysis_type_label(analysis.type, installed), Resolution.FAILED)
                folders.add(analysis.folder_id)
    for folder_id in sorted(folders):
        ctx.queues.enqueue_resolve(folder_id)
    return counts


def retry_webhooks() -> dict[str, int]:
    """Enqueue the webhook deliveries whose next attempt is due."""
    ctx = get_context()
    due = ctx.store.list_due_deliveries(datetime.now(UTC))
    for delivery in due:
        ctx.queues.enqueue_webhook(delivery.delivery_id)
    return {"enqueued": len(due)}


def retention() -> dict[str, int]:
    """Delete folders older than `retention_days` (0 keeps them) with their files, expired sessions,
    and queue depth samples older than `scheduler.queue_depth_retention_days` (0 keeps them)."""
    ctx = get_context()
    now = datetime.now(UTC)
    deleted = 0
    if ctx.settings.retention_days > 0:
        cutoff = now - timedelta(days=ctx.settings.retention_days)
        while True:
            folder_ids = ctx.store.list_folder_ids_created_before(cutoff, limit=RETENTION_BATCH)
            deleted += sum(delete_folder_and_files(ctx.store, ctx.storage, f) for f in folder_ids)
            if len(folder_ids) < RETENTION_BATCH:
                break
    sessions = ctx.store.delete_expired_sessions(now)
    samples_days = ctx.settings.scheduler.queue_depth_retention_days
    samples = ctx.store.delete_queue_depths_before(now - timedelta(days=samples_days)) if samples_days > 0 else 0
    return {"folders_deleted": deleted, "sessions_deleted": sessions, "queue_depth_samples_deleted": samples}


JOBS: dict[str, Callable[[], dict[str, int]]] = {
    "expire_analyses": expire_analyses,
    "retry_webhooks": retry_webhooks,
    "retention": retention,
}


def run_job(name: str) -> None:
    """Run the maintenance job `name` (the task body of the maintenance queue) and log its counts."""
    counts = JOBS[name]()
    log.info("job %s: %s", name, ", ".join(f"{key}={value}" for key, value in counts.items()))
