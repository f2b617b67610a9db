from __future__ import annotations

from pathlib import Path

import pytest

from appliance.domain.errors import AppError, ErrorCode
from appliance.sdk import (
    AnalysisContext,
    AnalysisRequest,
    AnalyzerSpec,
    MediaInput,
    MediaKind,
    MediaResult,
    MediaRule,
    Outcome,
    Resolution,
)
from appliance.sdk.requests import build_request, check_outcome, pick_source_media


class Fixed:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        return Outcome(resolution=Resolution.SUCCESS)


def media(media_id: str, kind: MediaKind, *tags: str) -> MediaInput:
    return MediaInput(media_id=media_id, kind=kind, tags=tags, path=Path(f"{media_id}.bin"), mime_type="x/y")


FOLDER = [
    media("v1", MediaKind.VIDEO, "video_selfie", "video_selfie_blank"),
    media("p1", MediaKind.IMAGE, "photo_id_front"),
    media("v2", MediaKind.VIDEO, "video_selfie_left"),
    media("p2", MediaKind.IMAGE, "photo_selfie"),
]

VIDEO_SELFIES = MediaRule(
    kinds=frozenset({MediaKind.VIDEO}), tag_prefixes=("video_selfie",), excluded_tags=frozenset({"video_selfie_blank"})
)


def test_params_are_the_defaults_with_the_callers_on_top() -> None:
    spec = AnalyzerSpec(type="quality", analyzer=Fixed(), default_params={"max_frames": 8, "mode": "fast"})

    request = build_request(
        spec, analysis_id="a1", params={"mode": "slow", "extra": 1}, media=FOLDER, thresholds={"liveness": 0.5}
    )

    assert request.params == {"max_frames": 8, "mode": "slow", "extra": 1}
    assert spec.default_params == {"max_frames": 8, "mode": "fast"}
    assert (request.analysis_id, request.type, request.thresholds) == ("a1", "QUALITY", {"liveness": 0.5})
    assert request.folder_meta_data == {}
    assert [m.media_id for m in request.media] == ["v1", "p1", "v2", "p2"]  # the default rule takes all


def test_the_media_rule_picks_the_source_media_in_upload_order() -> None:
    spec = AnalyzerSpec(type="QUALITY", analyzer=Fixed(), media_rule=VIDEO_SELFIES)

    request = build_request(
        spec, analysis_id="a1", params=None, media=FOLDER, thresholds={}, folder_meta_data={"k": "v"}
    )

    assert [m.media_id for m in request.media] == ["v2"]
    assert request.folder_meta_data == {"k": "v"}


def test_media_named_by_the_caller_are_taken_in_the_callers_order() -> None:
    spec = AnalyzerSpec(type="BIOMETRY", analyzer=Fixed(), media_rule=MediaRule(min_count=2))

    request = build_request(
        spec, analysis_id="a1", params={}, media=FOLDER, thresholds={}, source_media_ids=["p2", "v1"]
    )

    assert [m.media_id for m in request.media] == ["p2", "v1"]


def test_too_few_source_media_is_no_source_media() -> None:
    rule = MediaRule(kinds=frozenset({MediaKind.IMAGE}), min_count=3)

    with pytest.raises(AppError) as raised:
        pick_source_media(rule, FOLDER)

    assert raised.value.code is ErrorCode.NO_SOURCE_MEDIA
    assert "needs 3 source media, found 2" in raised.value.message
    with pytest.raises(AppError, match="found 1"):
        pick_source_media(MediaRule(min_count=2), FOLDER, ["p1"])


def test_a_named_media_outside_the_folder_does_not_exist() -> None:
    with pytest.raises(AppError) as raised:
        pick_source_media(MediaRule(), FOLDER, ["p1", "elsewhere"])

    assert raised.value.code is ErrorCode.NOT_EXIST and "elsewhere" in raised.value.message


def test_an_outcome_must_be_an_outcome_about_the_source_media() -> None:
    spec = AnalyzerSpec(type="A", analyzer=Fixed(), media_rule=VIDEO_SELFIES)
    request = build_request(spec, analysis_id="a1", params=None, media=FOLDER, thresholds={})
    good = Outcome(resolution=Resolution.SUCCESS, results_media=(MediaResult("v2"),))

    assert check_outcome(request, good) is good
    with pytest.raises(ValueError, match="not source media: p1"):
        check_outcome(request, Outcome(resolution=Resolution.SUCCESS, results_media=(MediaResult("p1"),)))
    with pytest.raises(TypeError, match="not dict"):
        check_outcome(request, {"resolution": "SUCCESS"})
