"""Maintenance jobs: the reaper of stuck analyses and the retention clean-up."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from appliance.domain.entities import Session, User
from appliance.domain.enums import AnalysisState, Role
from appliance.domain.errors import ErrorCode
from appliance.ops.settings import AnalysisSettings, SchedulerSettings
from appliance.queue.context import WorkerContext
from appliance.queue.jobs import JOBS, expire_analyses, retention, run_job
from appliance.queue.queues import JOB_NAMES
from tests.queue.conftest import MakeCtx, Samples, add_analysis, add_folder, add_media, new_id

LONG_AGO = timedelta(minutes=10)


def test_stuck_run_is_retried_then_expires_and_unpicked_analysis_fails(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(
        analysis=AnalysisSettings(processing_timeout_seconds=60, delivery_timeout_seconds=120, max_attempts=2)
    )
    folder = add_folder(ctx)
    media = [add_media(ctx, folder, samples.jpeg)]
    hung = add_analysis(ctx, folder, media)
    never = add_analysis(ctx, folder, media, time_queued=datetime.now(UTC) - LONG_AGO)
    fresh = add_analysis(ctx, folder, media)
    # `hung` started 10 minutes ago and its worker died; no worker ever picked `never` up.
    assert ctx.store.start_analysis(hung.analysis_id, datetime.now(UTC) - LONG_AGO) == 1

    assert expire_analyses() == {"requeued": 1, "processing_expired": 0, "delivery_expired": 1}

    requeued = ctx.store.get_analysis(hung.analysis_id)
    assert requeued is not None
    assert (requeued.state, requeued.attempt, requeued.time_started) == (AnalysisState.PROCESSING, 1, None)
    assert [t.args for t in ctx.queues.huey("analysis").pending()] == [(hung.analysis_id,)]
    undelivered = ctx.store.get_analysis(never.analysis_id)
    assert undelivered is not None
    assert (undelivered.state, undelivered.error_code) == (AnalysisState.FAILED, ErrorCode.ANALYSIS_DELIVERY_EXPIRED)
    assert [t.args for t in ctx.queues.huey("resolution").pending()] == [(folder.folder_id,)]

    assert ctx.store.start_analysis(hung.analysis_id, datetime.now(UTC) - LONG_AGO) == 2
    assert expire_analyses() == {"requeued": 0, "processing_expired": 1, "delivery_expired": 0}

    expired = ctx.store.get_analysis(hung.analysis_id)
    assert expired is not None
    assert (expired.state, expired.error_code) == (AnalysisState.FAILED, ErrorCode.ANALYSIS_PROCESSING_EXPIRED)
    assert "exceeded 60 s" in (expired.error_message or "")
    assert "crashed or hung" in (expired.error_message or "")
    still_fresh = ctx.store.get_analysis(fresh.analysis_id)
    assert still_fresh is not None and still_fresh.state is AnalysisState.PROCESSING


def _expired_session(ctx: WorkerContext) -> Session:
    user = ctx.store.create_user(
        User(user_id=new_id(), email=f"{new_id()}@example.test", user_type=Role.CLIENT, password_hash="x")
    )
    long_ago = datetime.now(UTC) - timedelta(days=2)
    return ctx.store.create_session(
        Session(
            session_id=new_id(),
            user_id=user.user_id,
            access_token_hash=new_id(),
            expire_token_hash=new_id(),
            access_expires_at=long_ago,
            expire_token_expires_at=long_ago,
        )
    )


def test_retention_deletes_old_folders_with_their_files_and_expired_sessions(
    make_ctx: MakeCtx, samples: Samples
) -> None:
    ctx = make_ctx(retention_days=1)
    old = add_folder(ctx, time_created=datetime.now(UTC) - timedelta(days=2))
    recent = add_folder(ctx)
    old_media = add_media(ctx, old, samples.dark_jpeg)
    recent_media = add_media(ctx, recent, samples.jpeg)
    _expired_session(ctx)

    assert retention() == {"folders_deleted": 1, "sessions_deleted": 1, "queue_depth_samples_deleted": 0}

    assert ctx.store.get_folder(old.folder_id) is None
    assert not ctx.storage.path_for(old_media.sha256, old_media.extension).exists()
    assert ctx.store.get_folder(recent.folder_id) is not None
    assert ctx.storage.path_for(recent_media.sha256, recent_media.extension).is_file()


def test_retention_zero_keeps_everything(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(retention_days=0, scheduler=SchedulerSettings(queue_depth_retention_days=0))
    old = add_folder(ctx, time_created=datetime.now(UTC) - timedelta(days=3650))
    ctx.store.record_queue_depths({"analysis": 1}, datetime.now(UTC) - timedelta(days=3650))
    assert retention() == {"folders_deleted": 0, "sessions_deleted": 0, "queue_depth_samples_deleted": 0}
    assert ctx.store.get_folder(old.folder_id) is not None
    assert len(ctx.store.list_queue_depth_peaks([datetime.now(UTC) - timedelta(days=3651), datetime.now(UTC)])) == 1


def test_retention_deletes_queue_depth_samples_older_than_their_own_limit(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(scheduler=SchedulerSettings(queue_depth_retention_days=7))
    now = datetime.now(UTC)
    ctx.store.record_queue_depths({"analysis": 5, "preview": 1}, now - timedelta(days=8))
    ctx.store.record_queue_depths({"analysis": 2, "preview": 0}, now - timedelta(days=6))

    assert retention()["queue_depth_samples_deleted"] == 2

    kept = ctx.store.list_queue_depth_peaks([now - timedelta(days=30), now])
    assert sorted((p.queue, p.depth) for p in kept) == [("analysis", 2), ("preview", 0)]


def test_run_job_logs_the_counts(ctx: WorkerContext, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="appliance.queue.jobs")
    run_job("retry_webhooks")
    assert "job retry_webhooks: enqueued=0" in caplog.text
    assert set(JOBS) == set(JOB_NAMES)
