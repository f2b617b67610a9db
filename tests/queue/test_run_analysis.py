"""run_analyses called directly, as a worker calls it, with the real BRIGHTNESS plugin."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from appliance.core.services import AppServices
from appliance.domain.enums import AnalysisState, Resolution
from appliance.domain.errors import ErrorCode
from appliance.ops.settings import AnalysisSettings
from appliance.queue.tasks import run_analyses
from appliance.sdk.types import AnalysisRequest, AnalyzerSpec, MediaResult, Outcome, OutputImage
from tests.queue.conftest import MakeCtx, Samples, add_analysis, add_folder, add_media


def test_finished_with_results_and_output_image(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx)
    media = add_media(ctx, folder, samples.jpeg)
    analysis = add_analysis(ctx, folder, [media])

    run_analyses(analysis.analysis_id)

    done = ctx.store.get_analysis(analysis.analysis_id)
    assert done is not None
    assert (done.state, done.resolution_status, done.attempt) == (AnalysisState.FINISHED, Resolution.SUCCESS, 1)
    assert (done.plugin, done.plugin_version, done.model_versions) == (
        "tests.plugins.brightness_plugin",
        "1.0",
        {"brightness": "1.0"},
    )
    assert done.results_data == {"min_luma": 40, "max_luma": 220}
    (item,) = done.results_media
    assert item["source_media_id"] == media.media_id
    assert item["output_images"] == [{"name": "brightest_frame"}]
    assert 40 <= item["results_data"]["mean_luma"] <= 220
    image = ctx.storage.output_dir(media.media_id) / analysis.analysis_id / "brightest_frame.jpg"
    assert image.read_bytes().startswith(b"\xff\xd8\xff")
    assert ctx.queues.pending_counts()["resolution"] == 1


def test_video_and_shot_set_and_a_declined_decision(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx)
    media = [
        add_media(ctx, folder, samples.mp4, ["video_selfie"]),
        add_media(ctx, folder, samples.shots_zip, ["video_selfie"]),
        add_media(ctx, folder, samples.dark_jpeg),
    ]
    analysis = add_analysis(ctx, folder, media, params={"max_frames": 3})

    run_analyses(analysis.analysis_id)

    done = ctx.store.get_analysis(analysis.analysis_id)
    assert done is not None and done.state is AnalysisState.FINISHED
    assert done.resolution_status is Resolution.DECLINED  # the dark photo is out of range
    assert [item["source_media_id"] for item in done.results_media] == [m.media_id for m in media]
    assert [item["results_data"]["frames"] for item in done.results_media] == [3, 3, 1]


def test_unknown_type_fails_without_retry(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx)
    analysis = add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)], type="PALMISTRY")

    run_analyses(analysis.analysis_id)

    done = ctx.store.get_analysis(analysis.analysis_id)
    assert done is not None
    assert (done.state, done.error_code) == (AnalysisState.FAILED, ErrorCode.ANALYSIS_NO_PLUGIN)
    assert done.error_message == "no installed plugin provides analysis type PALMISTRY"
    assert ctx.queues.pending_counts()["resolution"] == 1


def test_plugin_error_is_retried_with_backoff_then_fails(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(analysis=AnalysisSettings(max_attempts=3, retry_delay_seconds=5))
    folder = add_folder(ctx)
    analysis = add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)], params={"raise_error": "boom"})
    analysis_queue = ctx.queues.huey("analysis")

    for attempt, delay in ((1, 5), (2, 10)):
        before = datetime.now(UTC).replace(tzinfo=None)
        run_analyses(analysis.analysis_id)
        requeued = ctx.store.get_analysis(analysis.analysis_id)
        assert requeued is not None
        assert (requeued.state, requeued.attempt, requeued.time_started) == (AnalysisState.PROCESSING, attempt, None)
        (task,) = analysis_queue.pending()
        analysis_queue.flush()
        assert task.args == (analysis.analysis_id,)
        assert before + timedelta(seconds=delay - 1) < task.eta < before + timedelta(seconds=delay + 2)
    assert ctx.queues.pending_counts()["resolution"] == 0

    run_analyses(analysis.analysis_id)

    failed = ctx.store.get_analysis(analysis.analysis_id)
    assert failed is not None
    assert (failed.state, failed.attempt, failed.error_code) == (
        AnalysisState.FAILED,
        3,
        ErrorCode.ANALYSIS_PLUGIN_ERROR,
    )
    assert failed.error_message == "RuntimeError: boom"
    assert ctx.queues.pending_counts() == {"default": 0, "maintenance": 0, "analysis": 0, "resolution": 1, "preview": 0}


def test_with_two_attempts_one_retry_then_failed(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(analysis=AnalysisSettings(max_attempts=2, retry_delay_seconds=0))
    folder = add_folder(ctx)
    analysis = add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)], params={"raise_error": "no face"})

    run_analyses(analysis.analysis_id)
    assert ctx.queues.pending_counts()["analysis"] == 1
    run_analyses(analysis.analysis_id)

    failed = ctx.store.get_analysis(analysis.analysis_id)
    assert failed is not None
    assert (failed.state, failed.attempt, failed.error_message) == (AnalysisState.FAILED, 2, "RuntimeError: no face")


def test_a_stale_attempt_cannot_finish(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx)
    analysis = add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)], params={"hold_seconds": 0.5})
    worker = threading.Thread(target=run_analyses, args=(analysis.analysis_id,))
    worker.start()
    deadline = time.monotonic() + 5
    while (current := ctx.store.get_analysis(analysis.analysis_id)) and current.time_started is None:
        assert time.monotonic() < deadline, "the worker never started the analysis"
        time.sleep(0.01)
    # Meanwhile the expiry job gives up on attempt 1 and another worker starts attempt 2.
    assert ctx.store.requeue_analysis(analysis.analysis_id, 1, datetime.now(UTC))
    assert ctx.store.start_analysis(analysis.analysis_id, datetime.now(UTC)) == 2
    worker.join(10)

    current = ctx.store.get_analysis(analysis.analysis_id)
    assert current is not None
    assert (current.state, current.attempt, current.results_media) == (AnalysisState.PROCESSING, 2, [])
    assert ctx.queues.pending_counts()["resolution"] == 0


def test_a_finished_analysis_is_not_run_again(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx)
    analysis = add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)])
    run_analyses(analysis.analysis_id)
    run_analyses(analysis.analysis_id)
    done = ctx.store.get_analysis(analysis.analysis_id)
    assert done is not None and (done.state, done.attempt) == (AnalysisState.FINISHED, 1)


def test_missing_media_file_fails(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx)
    media = add_media(ctx, folder, samples.jpeg)
    analysis = add_analysis(ctx, folder, [media])
    ctx.storage.delete_file(media.sha256, media.extension)

    run_analyses(analysis.analysis_id)

    failed = ctx.store.get_analysis(analysis.analysis_id)
    assert failed is not None
    assert (failed.state, failed.error_code) == (AnalysisState.FAILED, ErrorCode.ANALYSIS_MEDIA_MISSING)
    assert media.media_id in (failed.error_message or "")


def test_deleted_source_media_fails(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx)
    media = add_media(ctx, folder, samples.jpeg)
    analysis = add_analysis(ctx, folder, [media])
    ctx.store.delete_media(media.media_id)

    run_analyses(analysis.analysis_id)

    failed = ctx.store.get_analysis(analysis.analysis_id)
    assert failed is not None
    assert (failed.state, failed.error_code) == (AnalysisState.FAILED, ErrorCode.ANALYSIS_MEDIA_MISSING)


JPEG = b"\xff\xd8\xff\xe0 a JPEG header is all the appliance checks"


class _OutputAnalyzer:
    """Answers with the given output images for each source media. (Outputs the contract refuses
    fail the analysis, on a worker as in the instant mode: tests/core/test_checked_analysis.py.)"""

    def __init__(self, images: tuple[OutputImage, ...]) -> None:
        self.images = images

    def analyze(self, request: AnalysisRequest, ctx: object) -> Outcome:
        return Outcome(
            resolution=Resolution.SUCCESS,
            results_media=tuple(MediaResult(media_id=m.media_id, output_images=self.images) for m in request.media),
        )


def test_good_output_names_are_kept(ctx: AppServices, samples: Samples) -> None:
    images = (OutputImage("best_shot", JPEG), OutputImage("face-0", JPEG))
    ctx.plugins.registry.register(AnalyzerSpec(type="OUTPUTS", analyzer=_OutputAnalyzer(images)))
    folder = add_folder(ctx)
    media = add_media(ctx, folder, samples.jpeg)
    analysis = add_analysis(ctx, folder, [media], type="OUTPUTS")

    run_analyses(analysis.analysis_id)

    done = ctx.store.get_analysis(analysis.analysis_id)
    assert done is not None and done.state is AnalysisState.FINISHED
    assert done.results_media[0]["output_images"] == [{"name": "best_shot"}, {"name": "face-0"}]
    directory = ctx.storage.output_dir(media.media_id) / analysis.analysis_id
    assert sorted(p.name for p in directory.iterdir()) == ["best_shot.jpg", "face-0.jpg"]


def test_logs_carry_no_meta_data_or_plugin_messages(
    ctx: AppServices, samples: Samples, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    folder = add_folder(ctx)  # its meta_data holds "kept out of logs"
    media = [add_media(ctx, folder, samples.jpeg)]
    run_analyses(add_analysis(ctx, folder, media).analysis_id)
    run_analyses(add_analysis(ctx, folder, media, params={"raise_error": "secret detail"}).analysis_id)

    assert "FINISHED SUCCESS" in caplog.text
    assert "RuntimeError" in caplog.text
    assert "kept out of logs" not in caplog.text
    assert "secret detail" not in caplog.text


def test_a_group_runs_every_analysis_even_when_one_hits_an_appliance_error(
    ctx: AppServices, samples: Samples, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = add_folder(ctx)
    media = [add_media(ctx, folder, samples.jpeg)]
    first, broken, last = (add_analysis(ctx, folder, media) for _ in range(3))
    finish = ctx.store.finish_analysis

    def disk_full_for_one(analysis_id: str, *args: object, **kwargs: object) -> bool:
        if analysis_id == broken.analysis_id:  # injected fault: the store fails for this one only
            raise OSError("no space left on device")
        return finish(analysis_id, *args, **kwargs)

    monkeypatch.setattr(ctx.store, "finish_analysis", disk_full_for_one)
    with pytest.raises(OSError, match="no space left"):
        run_analyses(first.analysis_id, broken.analysis_id, last.analysis_id)

    states = [ctx.store.get_analysis(a.analysis_id).state for a in (first, broken, last)]  # type: ignore[union-attr]
    assert states == [AnalysisState.FINISHED, AnalysisState.PROCESSING, AnalysisState.FINISHED]
