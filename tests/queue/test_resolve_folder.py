"""resolve_folder: the folder's status from its analyses, and webhooks created exactly once."""

from __future__ import annotations

from appliance.core.services import AppServices
from appliance.domain.enums import FolderStatus, Resolution
from appliance.queue.tasks import resolve_folder, run_analyses
from tests.queue.conftest import Samples, add_analysis, add_company, add_folder, add_media


def _status(ctx: AppServices, folder_id: str) -> tuple[FolderStatus, Resolution]:
    folder = ctx.store.get_folder(folder_id)
    assert folder is not None
    return folder.resolution_status, folder.system_resolution


def test_folder_waits_for_every_analysis_then_sends_its_webhooks_once(ctx: AppServices, samples: Samples) -> None:
    company = add_company(ctx, webhook_url="http://company.test/hook")
    folder = add_folder(ctx, company, resolution_endpoint="http://integrator.test/result")
    media = [add_media(ctx, folder, samples.jpeg)]
    first = add_analysis(ctx, folder, media)
    second = add_analysis(ctx, folder, media)
    run_analyses(first.analysis_id)

    resolve_folder(folder.folder_id)
    assert _status(ctx, folder.folder_id) == (FolderStatus.PROCESSING, Resolution.PROCESSING)
    assert ctx.store.list_deliveries(folder.folder_id) == []

    run_analyses(second.analysis_id)
    resolve_folder(folder.folder_id)
    resolve_folder(folder.folder_id)  # a second resolver (both analyses enqueued one) changes nothing

    assert _status(ctx, folder.folder_id) == (FolderStatus.FINISHED, Resolution.SUCCESS)
    deliveries = ctx.store.list_deliveries(folder.folder_id)
    assert sorted(d.url for d in deliveries) == ["http://company.test/hook", "http://integrator.test/result"]
    assert {(d.status, d.attempts, d.company_id) for d in deliveries} == {("PENDING", 0, company.company_id)}
    assert all(d.next_attempt_at is not None for d in deliveries)
    assert sorted(t.args[0] for t in ctx.queues.huey("default").pending()) == sorted(d.delivery_id for d in deliveries)


def test_worst_decision_wins_and_a_failed_analysis_fails_the_folder(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx)
    run_analyses(add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)]).analysis_id)
    run_analyses(add_analysis(ctx, folder, [add_media(ctx, folder, samples.dark_jpeg)]).analysis_id)
    resolve_folder(folder.folder_id)
    assert _status(ctx, folder.folder_id) == (FolderStatus.FINISHED, Resolution.DECLINED)

    run_analyses(add_analysis(ctx, folder, [], type="UNKNOWN").analysis_id)
    resolve_folder(folder.folder_id)
    assert _status(ctx, folder.folder_id) == (FolderStatus.FAILED, Resolution.FAILED)


def test_same_url_gets_one_delivery_and_no_url_none(ctx: AppServices, samples: Samples) -> None:
    company = add_company(ctx, webhook_url="http://same.test/hook")
    shared = add_folder(ctx, company, resolution_endpoint="http://same.test/hook")
    silent = add_folder(ctx)
    for folder in (shared, silent):
        run_analyses(add_analysis(ctx, folder, [add_media(ctx, folder, samples.jpeg)]).analysis_id)
        resolve_folder(folder.folder_id)

    assert [d.url for d in ctx.store.list_deliveries(shared.folder_id)] == ["http://same.test/hook"]
    assert ctx.store.list_deliveries(silent.folder_id) == []
    assert _status(ctx, silent.folder_id) == (FolderStatus.FINISHED, Resolution.SUCCESS)


def test_a_folder_reopened_by_a_new_analysis_sends_again(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx, resolution_endpoint="http://integrator.test/result")
    media = [add_media(ctx, folder, samples.jpeg)]
    run_analyses(add_analysis(ctx, folder, media).analysis_id)
    resolve_folder(folder.folder_id)
    later = add_analysis(ctx, folder, media)
    resolve_folder(folder.folder_id)
    assert _status(ctx, folder.folder_id) == (FolderStatus.PROCESSING, Resolution.PROCESSING)
    run_analyses(later.analysis_id)
    resolve_folder(folder.folder_id)
    assert len(ctx.store.list_deliveries(folder.folder_id)) == 2


def test_missing_folder_is_nothing_to_do(ctx: AppServices) -> None:
    resolve_folder("4f1c9a62-0000-4000-8000-000000000000")
