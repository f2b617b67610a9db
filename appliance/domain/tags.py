"""Media tags of the Oz API. A tag outside this list is refused unless a plugin declares it.

A tag also says what the media is: a `video_selfie*` tag is for a video (or a shot set, a video
as frames), a `photo_*` tag for a photo. The content of a file must agree with its tags
(`mismatched_tags`); `orientation_*` and a plugin's own tags fit any content.
"""

from __future__ import annotations

from collections.abc import Iterable

from appliance.domain.enums import MediaKind

__all__ = ["KNOWN_TAGS", "mismatched_tags", "unknown_tags"]

KNOWN_TAGS: frozenset[str] = frozenset(
    {
        "video_selfie",
        "video_selfie_left",
        "video_selfie_right",
        "video_selfie_down",
        "video_selfie_high",
        "video_selfie_smile",
        "video_selfie_eyes",
        "video_selfie_scan",
        "video_selfie_blank",
        "video_selfie_oneshot",
        "video_selfie_zoom_in",
        "video_selfie_zoom_out",
        "orientation_portrait",
        "orientation_landscape",
        "photo_selfie",
        "photo_id",
        "photo_id_front",
        "photo_id_back",
    }
)


def unknown_tags(tags: Iterable[str], extra_known: Iterable[str] = ()) -> list[str]:
    """The tags of `tags` that are neither Oz tags nor in `extra_known`, in their given order."""
    known = KNOWN_TAGS.union(extra_known)
    return [t for t in tags if t not in known]


#: Tag prefixes and the kinds of content they may be put on.
_KINDS_BY_PREFIX: tuple[tuple[str, frozenset[MediaKind]], ...] = (
    ("video_selfie", frozenset({MediaKind.VIDEO, MediaKind.SHOTS_SET})),
    ("photo_", frozenset({MediaKind.IMAGE})),
)


def mismatched_tags(tags: Iterable[str], kind: MediaKind) -> list[str]:
    """The tags of `tags` that content of `kind` may not carry (a photo tagged `video_selfie`, a video
    tagged `photo_selfie`), in their given order."""
    return [
        tag for tag in tags if any(tag.startswith(prefix) and kind not in kinds for prefix, kinds in _KINDS_BY_PREFIX)
    ]
