"""How an analysis becomes an `AnalysisRequest`, and what its `Outcome` must satisfy.

The one place that merges params, picks source media and checks outcomes: the appliance's
workers and the plugin test kit (`appliance.sdk.testing`) both call `build_request` and
`check_outcome`, so a plugin tested with the kit meets exactly what it meets on the appliance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.rules import MediaRule, select_source_media
from appliance.sdk.types import AnalysisRequest, AnalyzerSpec, MediaInput, Outcome

__all__ = ["build_request", "check_outcome", "merge_params", "pick_source_media"]


class _MediaLike(Protocol):
    """What media selection reads: a stored `Media` and a `MediaInput` both qualify."""

    @property
    def media_id(self) -> str: ...

    @property
    def kind(self) -> MediaKind: ...

    @property
    def tags(self) -> Sequence[str]: ...


M = TypeVar("M", bound=_MediaLike)


def merge_params(spec: AnalyzerSpec, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The analyzer's default params with the caller's on top (top-level keys replace)."""
    return {**spec.default_params, **(params or {})}


def pick_source_media(rule: MediaRule, media: Sequence[M], source_media_ids: Sequence[str] | None = None) -> list[M]:
    """The media an analysis runs on.

    With `source_media_ids`, the caller's choice in the caller's order; otherwise the folder's
    media that `rule` accepts, in upload order. Raises AppError NOT_EXIST for a named media the
    folder does not hold, and NO_SOURCE_MEDIA when fewer than `rule.min_count` remain.
    """
    if source_media_ids:
        by_id = {m.media_id: m for m in media}
        missing = [i for i in source_media_ids if i not in by_id]
        if missing:
            raise AppError(ErrorCode.NOT_EXIST, f"source media not in the folder: {', '.join(missing)}")
        chosen = [by_id[i] for i in source_media_ids]
    else:
        chosen = select_source_media(rule, media)
    if len(chosen) < rule.min_count:
        raise AppError(
            ErrorCode.NO_SOURCE_MEDIA,
            f"the analysis needs {rule.min_count} source media, found {len(chosen)}",
            {"kinds": sorted(rule.kinds), "tag_prefixes": list(rule.tag_prefixes), "min_count": rule.min_count},
        )
    return chosen


def build_request(
    spec: AnalyzerSpec,
    *,
    analysis_id: str,
    params: Mapping[str, Any] | None,
    media: Sequence[MediaInput],
    thresholds: Mapping[str, float],
    folder_meta_data: Mapping[str, Any] | None = None,
    source_media_ids: Sequence[str] | None = None,
    company_id: str | None = None,
) -> AnalysisRequest:
    """The request `spec.analyzer.analyze` receives for an analysis of a folder holding `media`."""
    return AnalysisRequest(
        analysis_id=analysis_id,
        type=spec.type.upper(),
        params=merge_params(spec, params),
        media=tuple(pick_source_media(spec.media_rule, media, source_media_ids)),
        thresholds=dict(thresholds),
        folder_meta_data=dict(folder_meta_data or {}),
        company_id=company_id,
    )


def check_outcome(request: AnalysisRequest, outcome: object) -> Outcome:
    """`outcome` if it is an `Outcome` about the request's media; raises TypeError or ValueError
    (a plugin bug, which fails the analysis like an exception raised in `analyze`) otherwise."""
    if not isinstance(outcome, Outcome):
        raise TypeError(f"analyze must return an appliance.sdk.Outcome, not {type(outcome).__name__}")
    known = {m.media_id for m in request.media}
    strangers = [r.media_id for r in outcome.results_media if r.media_id not in known]
    if strangers:
        raise ValueError(f"the outcome has results for media that are not source media: {', '.join(strangers)}")
    return outcome
