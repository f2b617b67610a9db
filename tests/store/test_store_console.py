"""What the web console reads and writes through the Store, on SQLite and PostgreSQL (conftest.py):
folder filters on one status column each, the operator decisions' audit trail, and the timings
the statistics are computed from."""

from __future__ import annotations

from typing import Any

from appliance.domain.decisions import OperatorDecision
from appliance.domain.enums import AnalysisState, FolderStatus, Resolution
from appliance.store import FolderFilter, Store
from tests.store.test_store_contract import at, finish, make_analysis, make_company, make_folder, new_id


def decision(analysis_id: str, folder_id: str, **fields: Any) -> OperatorDecision:
    defaults: dict[str, Any] = {
        "decision_id": new_id(),
        "company_id": None,
        "user_id": new_id(),
        "user_email": "operator@example.com",
        "old_resolution": Resolution.OPERATOR_REQUIRED,
        "new_resolution": Resolution.SUCCESS,
        "comment": "checked the ID by hand",
    }
    return OperatorDecision(analysis_id=analysis_id, folder_id=folder_id, **(defaults | fields))


def finished_analysis(store: Store, folder_id: str, resolution: Resolution, **fields: Any) -> str:
    analysis = make_analysis(store, folder_id, **fields)
    store.start_analysis(analysis.analysis_id, at(1))
    assert finish(store, analysis.analysis_id, 1, resolution)
    return analysis.analysis_id


def test_status_and_resolution_filters_each_match_their_own_column(store: Store) -> None:
    pending = make_folder(
        store, resolution_status=FolderStatus.FINISHED, system_resolution=Resolution.OPERATOR_REQUIRED
    )
    declined = make_folder(store, resolution_status=FolderStatus.FINISHED, system_resolution=Resolution.DECLINED)
    running = make_folder(store, resolution_status=FolderStatus.PROCESSING, system_resolution=Resolution.PROCESSING)

    def listed(**fields: Any) -> set[str]:
        return {f.folder_id for f in store.list_folders(FolderFilter(**fields))[0]}

    assert listed(statuses=[FolderStatus.FINISHED]) == {pending.folder_id, declined.folder_id}
    assert listed(resolutions=[Resolution.OPERATOR_REQUIRED]) == {pending.folder_id}
    assert listed(statuses=[FolderStatus.FINISHED], resolutions=[Resolution.DECLINED]) == {declined.folder_id}
    # PROCESSING is a status and a resolution: each filter reads only its own column
    assert listed(resolutions=[Resolution.PROCESSING]) == {running.folder_id}
    assert listed(statuses=[]) == set()


def test_a_decision_overrides_the_analysis_and_joins_the_trail(store: Store) -> None:
    company = make_company(store)
    folder = make_folder(store, company.company_id)
    analysis_id = finished_analysis(store, folder.folder_id, Resolution.OPERATOR_REQUIRED)
    recorded = store.decide_analysis(decision(analysis_id, folder.folder_id, company_id=company.company_id))
    assert recorded is not None and recorded.time_created is not None
    assert recorded.comment == "checked the ID by hand" and recorded.new_resolution is Resolution.SUCCESS
    overridden = store.get_analysis(analysis_id)
    assert overridden is not None
    assert (overridden.state, overridden.resolution_status) == (AnalysisState.FINISHED, Resolution.SUCCESS)
    assert overridden.results_data == {"confidence_spoofing": 0.01, "текст": "✓"}  # the plugin's numbers stay
    assert store.list_decisions(folder.folder_id) == [recorded]
    assert store.list_decisions(make_folder(store).folder_id) == []


def test_a_decision_is_written_only_over_the_result_it_saw(store: Store) -> None:
    folder = make_folder(store)
    analysis_id = finished_analysis(store, folder.folder_id, Resolution.OPERATOR_REQUIRED)
    first = store.decide_analysis(decision(analysis_id, folder.folder_id))
    second = store.decide_analysis(decision(analysis_id, folder.folder_id, new_resolution=Resolution.DECLINED))
    assert first is not None and second is None
    assert store.get_analysis(analysis_id).resolution_status is Resolution.SUCCESS  # type: ignore[union-attr]
    processing = make_analysis(store, folder.folder_id)
    assert store.decide_analysis(decision(processing.analysis_id, folder.folder_id)) is None
    elsewhere = make_folder(store)
    assert store.decide_analysis(decision(analysis_id, elsewhere.folder_id, old_resolution=Resolution.SUCCESS)) is None
    assert [d.decision_id for d in store.list_decisions(folder.folder_id)] == [first.decision_id]


def test_the_trail_goes_with_its_folder(store: Store) -> None:
    folder = make_folder(store)
    analysis_id = finished_analysis(store, folder.folder_id, Resolution.OPERATOR_REQUIRED)
    assert store.decide_analysis(decision(analysis_id, folder.folder_id)) is not None
    store.delete_folder(folder.folder_id)
    assert store.list_decisions(folder.folder_id) == []


def test_analysis_timings_of_a_period_and_scope(store: Store) -> None:
    company, other = make_company(store), make_company(store)
    owner = new_id()
    mine = make_folder(store, company.company_id, owner)
    colleague = make_folder(store, company.company_id)
    foreign = make_folder(store, other.company_id)
    finished_analysis(store, mine.folder_id, Resolution.SUCCESS, type="QUALITY", time_created=at(0))
    finished_analysis(store, colleague.folder_id, Resolution.DECLINED, type="BIOMETRY", time_created=at(0))
    finished_analysis(store, foreign.folder_id, Resolution.SUCCESS, time_created=at(0))
    make_analysis(store, mine.folder_id)  # still PROCESSING: never counted
    failed = make_analysis(store, mine.folder_id, type="QUALITY", time_created=at(0))
    store.fail_analysis(failed.analysis_id, None, error_code=121, error_message="boom", now=at(12))

    def timings(start: float, end: float, **scope: Any) -> list[tuple[str, Resolution]]:
        found = store.list_analysis_timings(finished_from=at(start), finished_to=at(end), **scope)
        assert [t.time_finished for t in found] == sorted(t.time_finished for t in found)
        return sorted((t.type, t.resolution_status) for t in found)

    assert len(timings(0, 60)) == 4
    assert timings(0, 60, company_id=company.company_id) == [
        ("BIOMETRY", Resolution.DECLINED),
        ("QUALITY", Resolution.FAILED),
        ("QUALITY", Resolution.SUCCESS),
    ]
    assert timings(0, 60, company_id=company.company_id, user_id=owner) == [
        ("QUALITY", Resolution.FAILED),
        ("QUALITY", Resolution.SUCCESS),
    ]
    assert timings(10, 12, company_id=company.company_id) == timings(0, 12, company_id=company.company_id)
    assert timings(11, 60, user_id=owner) == [("QUALITY", Resolution.FAILED)]  # the end is excluded, the start not
    (timing,) = [
        t
        for t in store.list_analysis_timings(finished_from=at(0), finished_to=at(11), user_id=owner)
        if t.state is AnalysisState.FINISHED
    ]
    assert (timing.time_created, timing.time_started, timing.time_finished) == (at(0), at(1), at(10))
    failed_timing = store.list_analysis_timings(finished_from=at(12), finished_to=at(13), user_id=owner)[0]
    assert failed_timing.time_started is None and failed_timing.state is AnalysisState.FAILED
