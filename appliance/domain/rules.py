"""Pure rules of the Oz state model and of which media an analysis takes.

Folder status (`resolution_status`) and result (`system_resolution`) from its analyses:

- no analyses: INITIAL / INITIAL;
- any analysis still PROCESSING: PROCESSING / PROCESSING (a folder is final only when all are);
- else any FAILED: FAILED / FAILED;
- else FINISHED, and the result is the worst of the analyses' results:
  DECLINED over OPERATOR_REQUIRED over SUCCESS.

An analysis's `resolution_status` mirrors its state until it is FINISHED, then carries the
plugin's decision.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from appliance.domain.entities import Analysis
from appliance.domain.enums import AnalysisState, FolderStatus, MediaKind, Resolution

__all__ = [
    "FINAL_FOLDER_STATUSES",
    "MediaRule",
    "TaggedMedia",
    "analysis_resolution",
    "folder_outcome",
    "select_source_media",
]

FINAL_FOLDER_STATUSES = frozenset({FolderStatus.FAILED, FolderStatus.FINISHED})

_DECISION_ORDER = (Resolution.DECLINED, Resolution.OPERATOR_REQUIRED, Resolution.SUCCESS)


def analysis_resolution(state: AnalysisState, decision: Resolution | None) -> Resolution:
    """The `resolution_status` an analysis shows in `state` with the plugin's `decision`."""
    if state is AnalysisState.PROCESSING:
        return Resolution.PROCESSING
    if state is AnalysisState.FAILED:
        return Resolution.FAILED
    if decision not in _DECISION_ORDER:
        raise ValueError(f"a FINISHED analysis needs a decision among {_DECISION_ORDER}, got {decision}")
    return decision


def folder_outcome(analyses: Iterable[Analysis]) -> tuple[FolderStatus, Resolution]:
    """`(resolution_status, system_resolution)` of a folder holding `analyses`."""
    analyses = list(analyses)
    if not analyses:
        return FolderStatus.INITIAL, Resolution.INITIAL
    states = {a.state for a in analyses}
    if AnalysisState.PROCESSING in states:
        return FolderStatus.PROCESSING, Resolution.PROCESSING
    if AnalysisState.FAILED in states:
        return FolderStatus.FAILED, Resolution.FAILED
    decisions = {a.resolution_status for a in analyses}
    for decision in _DECISION_ORDER:
        if decision in decisions:
            return FolderStatus.FINISHED, decision
    raise ValueError(f"finished analyses carry no decision: {sorted(decisions)}")


class TaggedMedia(Protocol):
    """What a media rule reads: a stored `Media` and a plugin's `MediaInput` both qualify."""

    @property
    def kind(self) -> MediaKind: ...

    @property
    def tags(self) -> Sequence[str]: ...


M = TypeVar("M", bound=TaggedMedia)


@dataclass(frozen=True, slots=True)
class MediaRule:
    """Which of a folder's media an analysis type takes when the caller names none.

    A media qualifies when its kind is in `kinds`, none of its tags is in `excluded_tags`, and,
    if `tag_prefixes` is not empty, one of its tags starts with one of them. An analysis needs at
    least `min_count` qualifying media (BIOMETRY compares pairs, so it needs two).
    """

    kinds: frozenset[MediaKind] = frozenset(MediaKind)
    tag_prefixes: tuple[str, ...] = ()
    excluded_tags: frozenset[str] = frozenset()
    min_count: int = 1

    def accepts(self, media: TaggedMedia) -> bool:
        if media.kind not in self.kinds:
            return False
        if self.excluded_tags.intersection(media.tags):
            return False
        if not self.tag_prefixes:
            return True
        return any(tag.startswith(self.tag_prefixes) for tag in media.tags)

    def is_met_by(self, media: Sequence[TaggedMedia]) -> bool:
        """True when `media` hold at least `min_count` media this rule accepts."""
        return len(select_source_media(self, media)) >= self.min_count

    def to_dict(self) -> dict[str, Any]:
        return {
            "kinds": sorted(self.kinds),
            "tag_prefixes": list(self.tag_prefixes),
            "excluded_tags": sorted(self.excluded_tags),
            "min_count": self.min_count,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaRule:
        return cls(
            kinds=frozenset(MediaKind(k) for k in data["kinds"]),
            tag_prefixes=tuple(data["tag_prefixes"]),
            excluded_tags=frozenset(data["excluded_tags"]),
            min_count=int(data["min_count"]),
        )


def select_source_media(rule: MediaRule, media: Sequence[M]) -> list[M]:
    """The media of a folder that `rule` accepts, in upload order."""
    return [m for m in media if rule.accepts(m)]
