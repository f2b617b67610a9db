"""Media tags of the Oz API. A tag outside this list is refused unless a plugin declares it."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["KNOWN_TAGS", "unknown_tags"]

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
