"""What each kind of content may be tagged with."""

from __future__ import annotations

import pytest

from appliance.domain.enums import MediaKind
from appliance.domain.tags import mismatched_tags


@pytest.mark.parametrize(
    ("kind", "tags", "wrong"),
    [
        (MediaKind.IMAGE, ["photo_selfie", "photo_id_front", "orientation_portrait"], []),
        (MediaKind.IMAGE, ["photo_selfie", "video_selfie_blank", "orientation_portrait"], ["video_selfie_blank"]),
        (MediaKind.VIDEO, ["video_selfie", "video_selfie_smile", "orientation_landscape"], []),
        (MediaKind.VIDEO, ["photo_selfie", "video_selfie"], ["photo_selfie"]),
        (MediaKind.SHOTS_SET, ["video_selfie_scan"], []),  # a shot set is a video as frames
        (MediaKind.SHOTS_SET, ["photo_id"], ["photo_id"]),
        (MediaKind.IMAGE, ["collection_person", "my_plugin_tag"], []),  # a plugin's own tags fit anything
    ],
)
def test_tags_against_the_kind_of_content(kind: MediaKind, tags: list[str], wrong: list[str]) -> None:
    assert mismatched_tags(tags, kind) == wrong
