"""What the folder pages make of results (results.py) and of the search form (filters.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from appliance.console.filters import PAGE_SIZE, FolderSearch
from appliance.console.results import analysis_view, flatten, show_value
from appliance.domain.entities import User
from appliance.domain.enums import FolderStatus, Resolution, Role
from appliance.domain.errors import AppError, ErrorCode

NAMES = {"m-selfie": "selfie.jpg", "m-id": "id.jpg"}


def analysis(analysis_type: str, results_data: dict[str, Any], results_media: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": analysis_type, "results_data": results_data, "results_media": results_media}


def titles(tables: list[Any]) -> list[str]:
    return [t.title for t in tables]


def test_any_plugin_s_results_are_shown_as_dotted_keys() -> None:
    data = {"score": 0.123456, "ok": True, "nested": {"a": None, "list": [{"b": 1}]}, "tags": ["x", "y"]}
    assert list(flatten(data)) == [
        ("score", "0.1235"),
        ("ok", "yes"),
        ("nested.a", "–"),
        ("nested.list[0].b", "1"),
        ("tags", "x, y"),
    ]


def test_long_lists_of_numbers_are_never_printed() -> None:
    embedding = [0.01 * i for i in range(128)]
    assert show_value(embedding) == "[128 numbers]"
    assert show_value([1, 2, 3]) == "1, 2, 3"
    view = analysis_view(
        analysis("THIRD_PARTY", {}, [{"source_media_id": "m-id", "results_data": {"v": embedding}}]), NAMES
    )
    assert view.media[0].tables[0].rows == [("v", "[128 numbers]")]


def test_quality_shows_the_score_gestures_reasons_and_best_shot() -> None:
    media_data = {
        "confidence_spoofing": 0.12,
        "gestures": {"video_selfie_smile": {"passed": False, "failed_check": "no_smile"}},
        "reasons": [{"reason": "BLURRED", "sharpness": 12.5}],
    }
    image = {"name": "best_shot", "original_url": "/api/analyses/a/images/m-selfie/best_shot?expires=1&signature=s"}
    doc = analysis(
        "QUALITY",
        {"max_confidence_spoofing": 0.12},
        [{"source_media_id": "m-selfie", "results_data": media_data, "output_images": [image]}],
    )
    view = analysis_view(doc, NAMES)
    (media,) = view.media
    assert media.media_name == "selfie.jpg"
    assert titles(media.tables) == ["Liveness", "Gestures", "Quality reasons", "All results"]
    assert media.tables[1].rows == [("video_selfie_smile", "no", "no_smile")]
    assert media.tables[2].rows == [("BLURRED", "sharpness=12.5")]
    assert [(i.title, i.url) for i in media.images] == [("best shot", image["original_url"])]


def test_quality_names_the_edges_of_the_live_envelope_a_face_lies_past() -> None:
    past = {"cue": "spectral", "outside": "above", "edge": 2.69899, "value": 3.1}
    media_data = {
        "confidence_spoofing": 0.2,
        "operator_reasons": ["outside_live_envelope"],
        "passive": {"threshold": 0.5, "decided_by": "fusion:liveness-fusion@1.0.0", "outside_live_envelope": [past]},
    }
    doc = analysis("QUALITY", {}, [{"source_media_id": "m-selfie", "results_data": media_data}])
    (media,) = analysis_view(doc, NAMES).media
    assert titles(media.tables)[:2] == ["Liveness", "Past the live envelope"]
    assert ("sent to an operator because", "outside_live_envelope") in media.tables[0].rows
    assert media.tables[1].rows == [("spectral", "3.1", "above 2.699")]


def test_biometry_names_the_media_of_each_pair() -> None:
    data = {
        "min_confidence": 0.91,
        "max_confidence": 0.91,
        "pairs": [{"media": ["m-selfie", "m-id"], "confidence": 0.91}],
    }
    view = analysis_view(analysis("BIOMETRY", data, []), NAMES)
    assert titles(view.tables) == ["Face match", "Pairs compared", "All results"]
    assert view.tables[1].rows == [("selfie.jpg ↔ id.jpg", "0.91")]


def test_biometry_shows_its_operating_point_and_threshold() -> None:
    point = {"name": "strict", "target_fmr": 0.0001, "distance": 1.1288, "threshold": 0.9104, "embedding_space": "x"}
    data = {"min_confidence": 0.95, "max_confidence": 0.95, "score": 0.95, "operating_point": point, "pairs": []}
    (face_match, _) = analysis_view(analysis("BIOMETRY", data, []), NAMES).tables
    assert face_match.rows[2:] == [("threshold", "0.9104"), ("operating point", "strict (FMR 0.0001, distance 1.129)")]


def test_documents_show_fields_and_checks() -> None:
    data = {
        "fields": {"surname": "SPECIMEN", "document_number": "X1234567"},
        "checks": {"birth_date": True, "composite": False},
    }
    view = analysis_view(analysis("DOCUMENTS", {}, [{"source_media_id": "m-id", "results_data": data}]), NAMES)
    fields, checks, _ = view.media[0].tables
    assert fields.rows == [("surname", "SPECIMEN"), ("document_number", "X1234567")]
    assert checks.rows == [("birth_date", "pass"), ("composite", "fail")]


def test_documents_say_why_first() -> None:
    view = analysis_view(analysis("DOCUMENTS", {"mrz_found": False, "reasons": ["no_mrz"]}, []), NAMES)
    why, *_ = view.tables
    assert why.title == "Why" and why.rows[0][0] == "no_mrz" and "look at the document" in why.rows[0][1]


def test_collection_shows_the_matched_persons() -> None:
    data = {"matches": [{"person_id": "p-1", "alias": "watch list 3", "confidence": 0.97}]}
    view = analysis_view(analysis("COLLECTION", {}, [{"source_media_id": "m-selfie", "results_data": data}]), NAMES)
    assert view.media[0].tables[0].rows == [("p-1", "watch list 3", "0.97")]


def user(role: Role, **fields: Any) -> User:
    return User(
        **{"user_id": "u-1", "email": "u@example.com", "user_type": role, "password_hash": "", "company_id": "c-1"}
        | fields
    )


def test_a_search_becomes_a_store_query_within_the_user_s_scope() -> None:
    form = {
        "status": "FINISHED",
        "resolution": "OPERATOR_REQUIRED",
        "created_from": "2026-03-01",
        "created_to": "2026-03-02",
        "meta_data": "transaction_id==T-1\n\n  channel!=kiosk  \n",
        "offset": "50",
        "_csrf": "ignored",
    }
    search = FolderSearch.parse(form)
    query = search.folder_filter(user(Role.CLIENT))
    assert (query.company_id, query.user_id) == ("c-1", "u-1")  # a plain CLIENT: its own folders
    assert query.statuses == [FolderStatus.FINISHED] and query.resolutions == [Resolution.OPERATOR_REQUIRED]
    assert query.time_created_min == datetime(2026, 3, 1, tzinfo=UTC)
    assert query.time_created_max == datetime(2026, 3, 2, 23, 59, 59, 999999, tzinfo=UTC)  # the whole day
    assert [(c.key, c.op, c.value) for c in query.meta_data] == [
        ("transaction_id", "==", "T-1"),
        ("channel", "!=", "kiosk"),
    ]
    assert (query.offset, query.limit) == (50, PAGE_SIZE)
    assert FolderSearch().folder_filter(user(Role.CLIENT_OPERATOR)).user_id is None  # the company's folders
    admin = FolderSearch().folder_filter(user(Role.ADMIN, company_id=None))
    assert (admin.company_id, admin.user_id, admin.statuses) == (None, None, None)


@pytest.mark.parametrize(
    "form",
    [
        {"status": "DONE"},
        {"resolution": "MAYBE"},
        {"created_from": "01/03/2026"},
        {"created_from": "2026-03-02", "created_to": "2026-03-01"},
        {"meta_data": "transaction_id"},
        {"meta_data": "\n".join(f"k{i}==v" for i in range(11))},
        {"offset": "ten"},
    ],
    ids=["status", "resolution", "date format", "dates reversed", "condition", "too many conditions", "offset"],
)
def test_a_wrong_search_is_refused(form: dict[str, str]) -> None:
    with pytest.raises(AppError) as refused:
        FolderSearch.parse(form)
    assert refused.value.code is ErrorCode.INVALID_VALUE
