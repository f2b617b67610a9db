"""Maintenance jobs, run on the maintenance queue when the scheduler enqueues them.

Each job reads the database afresh and is safe to run twice or concurrently: every write it
makes is conditional in the store (an analysis is requeued or failed only in the attempt it was
seen in), so the worst case is an extra, harmless task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from appliance.core.background import run_background_work
from appliance.core.folders import delete_folder_and_files
from appliance.core.hosts import RETIRED_AFTER
from appliance.core.orphans import sweep_orphan_files
from appliance.domain.entities import Analysis
from appliance.domain.enums import Resolution
from appliance.domain.errors import ErrorCode
from appliance.ops import metrics
from appliance.queue.context import get_services

__all__ = ["JOBS", "expire_analyses", "plugin_work", "retention", "retry_webhooks", "run_job", "sweep_orphans"]

log = logging.getLogger(__name__)

#: Folders deleted per store query by the retention job.
RETENTION_BATCH = 500


def expire_analyses() -> dict[str, int]:
    """Retry or fail analyses whose worker died or hung, enqueue again those whose task was lost,
    and fail those no worker picked up.

    A run in hand is given up on when its lease lapsed (its worker stopped renewing it) or it ran
    longer than `processing_timeout_seconds`: retried while attempts are left, else FAILED (122).
    A task can also be lost before any run starts: taken by a worker that died before it recorded
    the start, or never enqueued (the API or a requeue stopped between its write and the enqueue).
    Such an analysis is in no queue; the first pass that finds it so gives it a lease, and a later
    pass enqueues it again if it is still not started when that lapses and still in no queue.
    A folder whose analyses all ended a lease ago but that is still PROCESSING lost its resolution
    task (the worker that ended the last one died before it enqueued it): it is enqueued again.
    """
    services = get_services()
    store = services.store
    cfg = services.settings.analysis
    lease = timedelta(seconds=services.settings.queue.lease_seconds)
    now = datetime.now(UTC)
    started_before = now - timedelta(seconds=cfg.processing_timeout_seconds)
    stuck = store.list_stuck_analyses(
        started_before=started_before,
        queued_before=now - timedelta(seconds=cfg.delivery_timeout_seconds),
        now=now,
    )
    waiting = store.list_unleased_waiting_analyses(queued_before=now - lease)
    lost_candidates = [a for a in stuck if a.time_started is None and a.lease_expires_at is not None]
    queued = services.queues.queued_analysis_ids() if waiting or lost_candidates else set()
    counts = {"requeued": 0, "lost_requeued": 0, "processing_expired": 0, "delivery_expired": 0, "lost_suspected": 0}
    installed = services.plugins.registry.types()
    folders: set[str] = set()

    def failed(analysis: Analysis, attempt: int | None, code: ErrorCode, message: str) -> bool:
        if not store.fail_analysis(analysis.analysis_id, attempt, error_code=code, error_message=message, now=now):
            return False
        metrics.analysis_finished(metrics.analysis_type_label(analysis.type, installed), Resolution.FAILED)
        folders.add(analysis.folder_id)
        return True

    for analysis in stuck:
        if analysis.time_started is None and analysis.lease_expires_at is not None:
            if analysis.analysis_id not in queued and store.requeue_analysis(
                analysis.analysis_id, analysis.attempt, now
            ):
                services.queues.enqueue_analysis(analysis.analysis_id)
                counts["lost_requeued"] += 1
        elif analysis.time_started is None:
            message = f"no worker started the analysis within {cfg.delivery_timeout_seconds:g} s"
            counts["delivery_expired"] += failed(analysis, None, ErrorCode.ANALYSIS_DELIVERY_EXPIRED, message)
        elif analysis.attempt < cfg.max_attempts:
            if store.requeue_analysis(analysis.analysis_id, analysis.attempt, now):
                services.queues.enqueue_analysis(analysis.analysis_id)
                counts["requeued"] += 1
        else:
            cause = (
                f"exceeded {cfg.processing_timeout_seconds:g} s"
                if analysis.time_started < started_before
                else "lost its lease (its worker stopped renewing it)"
            )
            message = f"run {analysis.attempt} {cause}: the worker crashed or hung; no attempts left"
            counts["processing_expired"] += failed(
                analysis, analysis.attempt, ErrorCode.ANALYSIS_PROCESSING_EXPIRED, message
            )
    for analysis in waiting:
        if analysis.analysis_id not in queued:
            counts["lost_suspected"] += store.lease_unstarted(analysis.analysis_id, analysis.attempt, now + lease)
    overdue = set(store.list_unresolved_folder_ids(ended_before=now - lease)) - folders
    counts["resolutions_overdue"] = len(overdue)
    for folder_id in sorted(folders | overdue):
        services.queues.enqueue_resolve(folder_id)
    return counts


def retry_webhooks() -> dict[str, int]:
    """Enqueue the webhook deliveries whose next attempt is due."""
    services = get_services()
    due = services.store.list_due_deliveries(datetime.now(UTC))
    for delivery in due:
        services.queues.enqueue_webhook(delivery.delivery_id)
    return {"enqueued": len(due)}


def retention() -> dict[str, int]:
    """Delete folders older than `retention_days` (0 keeps them) with their files, expired sessions,
    queue depth samples older than `scheduler.queue_depth_retention_days` (0 keeps them), failed
    logins counted no more (past `auth.login_failure_window_seconds` and their block), and the
    registrations of processes not seen for 30 days (retired hosts, `core/hosts.py`)."""
    services = get_services()
    now = datetime.now(UTC)
    deleted = 0
    if services.settings.retention_days > 0:
        cutoff = now - timedelta(days=services.settings.retention_days)
        while True:
            folder_ids = services.store.list_folder_ids_created_before(cutoff, limit=RETENTION_BATCH)
            deleted += sum(delete_folder_and_files(services.store, services.storage, f) for f in folder_ids)
            if len(folder_ids) < RETENTION_BATCH:
                break
    sessions = services.store.delete_expired_sessions(now)
    samples_days = services.settings.scheduler.queue_depth_retention_days
    samples = services.store.delete_queue_depths_before(now - timedelta(days=samples_days)) if samples_days > 0 else 0
    logins = services.store.delete_login_failures_before(
        now - timedelta(seconds=services.settings.auth.login_failure_window_seconds)
    )
    parts = services.store.delete_host_parts_before(now - RETIRED_AFTER)
    return {
        "folders_deleted": deleted,
        "sessions_deleted": sessions,
        "queue_depth_samples_deleted": samples,
        "login_failures_deleted": logins,
        "host_parts_deleted": parts,
    }


def plugin_work() -> dict[str, int]:
    """The plugins' background work (a collection re-enrolled into a new embedding space), for
    at most `scheduler.plugin_work_budget_seconds`; the next run goes on where this one stopped."""
    services = get_services()
    return run_background_work(services, services.settings.scheduler.plugin_work_budget_seconds)


def sweep_orphans() -> dict[str, int]:
    """Remove stored files without a database row once older than `scheduler.orphan_grace_seconds`
    (what a process killed mid-upload or mid-deletion left; `core/orphans.py`)."""
    services = get_services()
    return sweep_orphan_files(services.store, services.storage, services.settings.scheduler.orphan_grace_seconds)


JOBS: dict[str, Callable[[], dict[str, int]]] = {
    "expire_analyses": expire_analyses,
    "retry_webhooks": retry_webhooks,
    "retention": retention,
    "plugin_work": plugin_work,
    "sweep_orphans": sweep_orphans,
}


def run_job(name: str) -> None:
    """Run the maintenance job `name` (the task body of the maintenance queue) and log its counts."""
    counts = JOBS[name]()
    log.info("job %s: %s", name, ", ".join(f"{key}={value}" for key, value in counts.items()))
