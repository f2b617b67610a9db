"""The Oz state model as pure rules."""

from __future__ import annotations

import json

import pytest

from appliance.domain.entities import Analysis, Media
from appliance.domain.enums import AnalysisState, FolderStatus, MediaKind, Resolution
from appliance.domain.rules import MediaRule, analysis_resolution, folder_outcome, select_source_media
from appliance.domain.tags import unknown_tags

P, F, D = AnalysisState.PROCESSING, AnalysisState.FINISHED, AnalysisState.FAILED


def _analysis(state: AnalysisState, decision: Resolution | None = None) -> Analysis:
    return Analysis(
        analysis_id="a", folder_id="f", type="T", state=state, resolution_status=analysis_resolution(state, decision)
    )


@pytest.mark.parametrize(
    ("analyses", "expected"),
    [
        ([], (FolderStatus.INITIAL, Resolution.INITIAL)),
        ([(P, None)], (FolderStatus.PROCESSING, Resolution.PROCESSING)),
        ([(F, Resolution.SUCCESS), (P, None)], (FolderStatus.PROCESSING, Resolution.PROCESSING)),
        ([(D, None), (P, None)], (FolderStatus.PROCESSING, Resolution.PROCESSING)),
        ([(D, None), (F, Resolution.SUCCESS)], (FolderStatus.FAILED, Resolution.FAILED)),
        ([(F, Resolution.SUCCESS), (F, Resolution.SUCCESS)], (FolderStatus.FINISHED, Resolution.SUCCESS)),
        (
            [(F, Resolution.SUCCESS), (F, Resolution.OPERATOR_REQUIRED)],
            (FolderStatus.FINISHED, Resolution.OPERATOR_REQUIRED),
        ),
        ([(F, Resolution.OPERATOR_REQUIRED), (F, Resolution.DECLINED)], (FolderStatus.FINISHED, Resolution.DECLINED)),
        ([(F, Resolution.DECLINED), (F, Resolution.SUCCESS)], (FolderStatus.FINISHED, Resolution.DECLINED)),
    ],
)
def test_folder_outcome(
    analyses: list[tuple[AnalysisState, Resolution | None]], expected: tuple[FolderStatus, Resolution]
) -> None:
    assert folder_outcome(_analysis(s, d) for s, d in analyses) == expected


def test_analysis_resolution_mirrors_the_state_until_finished() -> None:
    assert analysis_resolution(P, Resolution.SUCCESS) is Resolution.PROCESSING
    assert analysis_resolution(D, None) is Resolution.FAILED
    assert analysis_resolution(F, Resolution.DECLINED) is Resolution.DECLINED
    with pytest.raises(ValueError):
        analysis_resolution(F, None)
    with pytest.raises(ValueError):
        analysis_resolution(F, Resolution.PROCESSING)


def _media(media_id: str, kind: MediaKind, *tags: str) -> Media:
    return Media(
        media_id=media_id,
        folder_id="f",
        kind=kind,
        sha256="0" * 64,
        extension="x",
        mime_type="x",
        size_bytes=1,
        tags=list(tags),
    )


def test_media_rules_pick_by_kind_prefix_and_exclusion() -> None:
    media = [
        _media("video", MediaKind.VIDEO, "video_selfie", "video_selfie_blank"),
        _media("selfie", MediaKind.IMAGE, "photo_selfie"),
        _media("id_front", MediaKind.IMAGE, "photo_id", "photo_id_front"),
        _media("id_back", MediaKind.IMAGE, "photo_id", "photo_id_back"),
        _media("shots", MediaKind.SHOTS_SET, "video_selfie"),
    ]
    quality = MediaRule(tag_prefixes=("video_selfie", "photo_selfie"))
    biometry = MediaRule(excluded_tags=frozenset({"photo_id_back"}), min_count=2)
    videos_only = MediaRule(kinds=frozenset({MediaKind.VIDEO, MediaKind.SHOTS_SET}))
    assert [m.media_id for m in select_source_media(quality, media)] == ["video", "selfie", "shots"]
    assert [m.media_id for m in select_source_media(biometry, media)] == ["video", "selfie", "id_front", "shots"]
    assert [m.media_id for m in select_source_media(videos_only, media)] == ["video", "shots"]


def test_a_rule_says_whether_media_meet_it_and_travels_as_json() -> None:
    selfie, video = _media("selfie", MediaKind.IMAGE, "photo_selfie"), _media("video", MediaKind.VIDEO, "video_selfie")
    id_front = _media("id_front", MediaKind.IMAGE, "photo_id_front")
    biometry = MediaRule(excluded_tags=frozenset({"photo_id_back"}), min_count=2)
    documents = MediaRule(kinds=frozenset({MediaKind.IMAGE}), tag_prefixes=("photo_id",))
    assert biometry.is_met_by([selfie, video]) and not biometry.is_met_by([selfie])
    assert not documents.is_met_by([selfie, video]) and documents.is_met_by([selfie, id_front])
    for rule in (biometry, documents, MediaRule()):
        assert MediaRule.from_dict(json.loads(json.dumps(rule.to_dict()))) == rule


def test_unknown_tags_keep_their_order_and_accept_declared_ones() -> None:
    assert unknown_tags(["photo_selfie", "selfie_photo", "x_custom"]) == ["selfie_photo", "x_custom"]
    assert unknown_tags(["x_custom"], extra_known={"x_custom"}) == []
