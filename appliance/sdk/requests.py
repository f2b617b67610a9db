"""How an analysis becomes an `AnalysisRequest`, and what its `Outcome` must satisfy.

The one place that merges params, picks source media and checks outcomes: the appliance (its
workers and its instant mode, through `appliance.core.analysis`) and the plugin test kit
(`appliance.sdk.testing`) all call `build_request` and `check_outcome`, so a plugin tested with
the kit meets exactly what it meets on the appliance.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TypeVar

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.rules import MediaRule, select_source_media
from appliance.sdk.types import AnalysisRequest, AnalyzerSpec, MediaInput, Outcome

__all__ = [
    "JPEG_MAGIC",
    "OUTPUT_IMAGE_NAME",
    "NotAnOutcome",
    "OutcomeRefused",
    "build_request",
    "check_outcome",
    "merge_params",
    "pick_source_media",
]

#: What the name of an output image must match: it becomes a file name and a URL path segment.
OUTPUT_IMAGE_NAME = re.compile(r"[a-z0-9_-]{1,64}")
#: How every JPEG file starts.
JPEG_MAGIC = b"\xff\xd8\xff"


class OutcomeRefused(ValueError):
    """What `analyze` returned breaks the contract (`check_outcome`); the message says how."""


class NotAnOutcome(OutcomeRefused, TypeError):
    """`analyze` returned something other than an `Outcome`."""


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
    """`outcome` if it keeps the contract of `analyze`; OutcomeRefused (a plugin bug, which fails
    the analysis without a retry) otherwise.

    An outcome is an `Outcome` whose results each name a different source media of the request,
    and whose output images are JPEGs with distinct names matching `OUTPUT_IMAGE_NAME` (names
    become file names and URL path segments). The appliance checks every outcome with this before
    it keeps anything, wherever the analysis ran: on a worker, in the instant mode, in the test kit.
    """
    if not isinstance(outcome, Outcome):
        raise NotAnOutcome(f"analyze must return an appliance.sdk.Outcome, not {type(outcome).__name__}")
    known = {m.media_id for m in request.media}
    strangers = [r.media_id for r in outcome.results_media if r.media_id not in known]
    if strangers:
        raise OutcomeRefused(
            f"the outcome has results for media that are not source media: {', '.join(map(str, strangers))}"
        )
    named = [r.media_id for r in outcome.results_media]
    twice = sorted({m for m in named if named.count(m) > 1})
    if twice:
        raise OutcomeRefused(f"the outcome has more than one result for media {', '.join(twice)}")
    for result in outcome.results_media:
        names = [image.name for image in result.output_images]
        for image in result.output_images:
            if not OUTPUT_IMAGE_NAME.fullmatch(image.name) or names.count(image.name) > 1:
                raise OutcomeRefused(
                    f"output image name {image.name!r} must be unique and match {OUTPUT_IMAGE_NAME.pattern}"
                )
            if not image.jpeg.startswith(JPEG_MAGIC):
                raise OutcomeRefused(f"output image {image.name!r} is not a JPEG")
    return outcome
