"""Maintenance jobs: the reaper of stuck analyses and the retention clean-up."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta

import pytest

from appliance.core.queues import JOB_NAMES
from appliance.core.services import AppServices
from appliance.domain.entities import Session, User
from appliance.domain.enums import AnalysisState, FolderStatus, Resolution, Role
from appliance.domain.errors import ErrorCode
from appliance.ops.settings import AnalysisSettings, AuthSettings, QueueSettings, SchedulerSettings
from appliance.queue.jobs import JOBS, expire_analyses, retention, run_job
from appliance.queue.leases import held_analyses
from appliance.queue.tasks import resolve_folder, run_analyses
from appliance.store.protocol import LoginKey
from tests.queue.conftest import MakeCtx, Samples, add_analysis, add_folder, add_media, new_id
from tests.support.redis_server import redis_url

LONG_AGO = timedelta(minutes=10)
#: A short lease, so that a test waits for it to lapse.
LEASE = 0.3
#: Longer where the first look must come within one lease of the enqueue, however loaded the machine.
UNSTARTED_LEASE = 1.5


def counts(**nonzero: int) -> dict[str, int]:
    """What `expire_analyses` returns: these counts, every other one 0."""
    names = ("requeued", "lost_requeued", "processing_expired", "delivery_expired", "lost_suspected")
    names += ("resolutions_overdue",)
    return {name: nonzero.get(name, 0) for name in names}


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

    assert expire_analyses() == counts(requeued=1, delivery_expired=1)

    requeued = ctx.store.get_analysis(hung.analysis_id)
    assert requeued is not None
    assert (requeued.state, requeued.attempt, requeued.time_started) == (AnalysisState.PROCESSING, 1, None)
    assert [t.args for t in ctx.queues.huey("analysis").pending()] == [(hung.analysis_id,)]
    undelivered = ctx.store.get_analysis(never.analysis_id)
    assert undelivered is not None
    assert (undelivered.state, undelivered.error_code) == (AnalysisState.FAILED, ErrorCode.ANALYSIS_DELIVERY_EXPIRED)
    assert [t.args for t in ctx.queues.huey("resolution").pending()] == [(folder.folder_id,)]

    assert ctx.store.start_analysis(hung.analysis_id, datetime.now(UTC) - LONG_AGO) == 2
    assert expire_analyses() == counts(processing_expired=1)

    expired = ctx.store.get_analysis(hung.analysis_id)
    assert expired is not None
    assert (expired.state, expired.error_code) == (AnalysisState.FAILED, ErrorCode.ANALYSIS_PROCESSING_EXPIRED)
    assert "exceeded 60 s" in (expired.error_message or "")
    assert "crashed or hung" in (expired.error_message or "")
    still_fresh = ctx.store.get_analysis(fresh.analysis_id)
    assert still_fresh is not None and still_fresh.state is AnalysisState.PROCESSING


def test_a_lapsed_lease_is_retried_then_failed_long_before_the_processing_timeout(
    make_ctx: MakeCtx, samples: Samples
) -> None:
    ctx = make_ctx(queue=QueueSettings(lease_seconds=LEASE), analysis=AnalysisSettings(max_attempts=2))
    folder = add_folder(ctx)
    analysis = add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)])
    now = datetime.now(UTC)
    # Taken by a worker that then died: nobody renews its lease.
    assert ctx.store.start_analysis(analysis.analysis_id, now, now + timedelta(seconds=LEASE)) == 1
    assert expire_analyses() == counts()
    time.sleep(LEASE)
    assert expire_analyses() == counts(requeued=1)
    assert [t.args for t in ctx.queues.huey("analysis").pending()] == [(analysis.analysis_id,)]
    requeued = ctx.store.get_analysis(analysis.analysis_id)
    assert requeued is not None and (requeued.attempt, requeued.time_started, requeued.lease_expires_at) == (
        1,
        None,
        None,
    )

    now = datetime.now(UTC)
    assert ctx.store.start_analysis(analysis.analysis_id, now, now + timedelta(seconds=LEASE)) == 2
    time.sleep(LEASE)
    assert expire_analyses() == counts(processing_expired=1)
    failed = ctx.store.get_analysis(analysis.analysis_id)
    assert failed is not None
    assert (failed.state, failed.error_code) == (AnalysisState.FAILED, ErrorCode.ANALYSIS_PROCESSING_EXPIRED)
    assert "run 2 lost its lease" in (failed.error_message or "")


def test_a_held_analysis_keeps_its_lease_while_the_heartbeat_renews_it(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(queue=QueueSettings(lease_seconds=LEASE))
    folder = add_folder(ctx)
    analysis = add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)])
    with held_analyses(ctx.store, [analysis.analysis_id, new_id()], LEASE) as attempts:
        assert attempts == {analysis.analysis_id: 1}
        first = ctx.store.get_analysis(analysis.analysis_id)
        for _ in range(3):
            time.sleep(LEASE)
            assert expire_analyses() == counts()
        renewed = ctx.store.get_analysis(analysis.analysis_id)
    assert first is not None and renewed is not None and first.lease_expires_at and renewed.lease_expires_at
    assert renewed.lease_expires_at >= first.lease_expires_at + timedelta(seconds=2 * LEASE)
    time.sleep(LEASE)
    assert expire_analyses() == counts(requeued=1)  # the block ended without finishing it: as if killed


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_a_task_taken_but_never_started_is_enqueued_again(
    make_ctx: MakeCtx, samples: Samples, backend: str, request: pytest.FixtureRequest
) -> None:
    queue = QueueSettings(lease_seconds=UNSTARTED_LEASE)
    if backend == "redis":
        queue = QueueSettings(
            lease_seconds=UNSTARTED_LEASE,
            backend="redis",
            redis_url=redis_url(),
            name_prefix=request.getfixturevalue("redis_prefix"),
        )
    ctx = make_ctx(queue=queue)
    folder = add_folder(ctx)
    media = [add_media(ctx, folder, samples.jpeg)]
    lost, waiting, delayed = (add_analysis(ctx, folder, media) for _ in range(3))
    ctx.queues.enqueue_analysis(lost.analysis_id)
    assert ctx.queues.huey("analysis").dequeue() is not None  # a worker took the task, then died
    ctx.queues.enqueue_analysis(delayed.analysis_id, delay=3600)
    scheduled = ctx.queues.huey("analysis").dequeue()  # a consumer moves a delayed task to the schedule
    assert scheduled is not None and scheduled.args == (delayed.analysis_id,)
    ctx.queues.huey("analysis").add_schedule(scheduled)
    ctx.queues.enqueue_analysis(waiting.analysis_id)

    assert expire_analyses() == counts()  # taken moments ago: a worker may be about to start it
    time.sleep(UNSTARTED_LEASE)
    assert expire_analyses() == counts(lost_suspected=1)
    leased = ctx.store.get_analysis(lost.analysis_id)
    assert leased is not None and leased.time_started is None and leased.lease_expires_at is not None
    assert expire_analyses() == counts()
    time.sleep(UNSTARTED_LEASE)
    assert expire_analyses() == counts(lost_requeued=1)

    pending = sorted(t.args for t in ctx.queues.huey("analysis").pending())
    assert pending == sorted([(waiting.analysis_id,), (lost.analysis_id,)])
    assert ctx.queues.queued_analysis_ids() == {lost.analysis_id, waiting.analysis_id, delayed.analysis_id}
    again = ctx.store.get_analysis(lost.analysis_id)
    assert again is not None and (again.attempt, again.time_started, again.lease_expires_at) == (0, None, None)
    run_analyses(lost.analysis_id)
    done = ctx.store.get_analysis(lost.analysis_id)
    assert done is not None and (done.state, done.attempt, done.lease_expires_at) == (AnalysisState.FINISHED, 1, None)


def test_a_worker_that_starts_the_task_within_its_lease_keeps_it(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(queue=QueueSettings(lease_seconds=LEASE))
    folder = add_folder(ctx)
    analysis = add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)])
    time.sleep(LEASE)
    assert expire_analyses() == counts(lost_suspected=1)  # in no queue: a worker holds it in memory
    now = datetime.now(UTC)
    assert ctx.store.start_analysis(analysis.analysis_id, now, now + timedelta(seconds=60)) == 1
    time.sleep(LEASE)
    assert expire_analyses() == counts()
    assert ctx.queues.pending_counts()["analysis"] == 0


def test_a_folder_whose_resolution_was_lost_is_resolved(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(queue=QueueSettings(lease_seconds=LEASE))
    folder = add_folder(ctx)
    media = [add_media(ctx, folder, samples.jpeg)]
    ended, running = add_analysis(ctx, folder, media), add_analysis(ctx, folder, media)
    ctx.store.set_folder_outcome(folder.folder_id, FolderStatus.PROCESSING, Resolution.PROCESSING)
    # The worker that finished `ended` died before it enqueued the folder's resolution.
    run_analyses(ended.analysis_id)
    ctx.queues.huey("resolution").flush()
    time.sleep(LEASE)
    assert expire_analyses()["resolutions_overdue"] == 0  # `running` has not ended
    now = datetime.now(UTC)
    assert ctx.store.start_analysis(running.analysis_id, now, now + timedelta(seconds=60)) == 1
    assert ctx.store.fail_analysis(running.analysis_id, 1, error_code=121, error_message="x", now=now)
    assert expire_analyses()["resolutions_overdue"] == 0  # it ended moments ago: its resolver may be on the way
    time.sleep(LEASE)
    assert expire_analyses()["resolutions_overdue"] == 1
    assert [t.args for t in ctx.queues.huey("resolution").pending()] == [(folder.folder_id,)]
    resolve_folder(folder.folder_id)
    assert expire_analyses()["resolutions_overdue"] == 0


def _expired_session(ctx: AppServices) -> Session:
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

    assert retention() == {
        "folders_deleted": 1,
        "sessions_deleted": 1,
        "queue_depth_samples_deleted": 0,
        "login_failures_deleted": 0,
        "host_parts_deleted": 0,
    }

    assert ctx.store.get_folder(old.folder_id) is None
    assert not ctx.storage.path_for(old_media.sha256, old_media.extension).exists()
    assert ctx.store.get_folder(recent.folder_id) is not None
    assert ctx.storage.path_for(recent_media.sha256, recent_media.extension).is_file()


def test_retention_zero_keeps_everything(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(retention_days=0, scheduler=SchedulerSettings(queue_depth_retention_days=0))
    old = add_folder(ctx, time_created=datetime.now(UTC) - timedelta(days=3650))
    ctx.store.record_queue_depths({"analysis": 1}, datetime.now(UTC) - timedelta(days=3650))
    assert retention() == {
        "folders_deleted": 0,
        "sessions_deleted": 0,
        "queue_depth_samples_deleted": 0,
        "login_failures_deleted": 0,
        "host_parts_deleted": 0,
    }
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


def test_retention_deletes_failed_logins_past_their_window(make_ctx: MakeCtx) -> None:
    ctx = make_ctx(auth=AuthSettings(login_failure_window_seconds=3600))
    now = datetime.now(UTC)
    stale, recent = LoginKey(account="", address="192.0.2.1"), LoginKey(account="", address="192.0.2.2")
    ctx.store.record_login_failure(stale, now - timedelta(hours=2), now - timedelta(hours=3))
    ctx.store.record_login_failure(recent, now - timedelta(minutes=5), now - timedelta(hours=3))

    assert retention()["login_failures_deleted"] == 1
    assert ctx.store.record_login_failure(recent, now, now - timedelta(hours=1)) == 2


def test_retention_forgets_processes_not_seen_for_30_days(make_ctx: MakeCtx) -> None:
    ctx = make_ctx()
    now = datetime.now(UTC)
    for hostname, seen in (("retired", now - timedelta(days=31)), ("away", now - timedelta(days=29))):
        ctx.store.beat_host_part(
            hostname, "api", 7, role=None, time_started=seen, now=seen, forget_before=seen - timedelta(minutes=1)
        )

    assert retention()["host_parts_deleted"] == 1
    assert [p.hostname for p in ctx.store.list_host_parts()] == ["away"]


def test_run_job_logs_the_counts(ctx: AppServices, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="appliance.queue.jobs")
    run_job("retry_webhooks")
    assert "job retry_webhooks: enqueued=0" in caplog.text
    assert set(JOBS) == set(JOB_NAMES)
