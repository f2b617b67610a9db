"""What an analyzer receives and returns. Part of the public plugin API (`appliance.sdk`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

from appliance.domain.enums import MediaKind, Resolution
from appliance.domain.rules import MediaRule

__all__ = [
    "AnalysisRequest",
    "Analyzer",
    "AnalyzerSpec",
    "CheckStatus",
    "DoctorCheck",
    "MediaInput",
    "MediaResult",
    "Outcome",
    "OutputImage",
]


@dataclass(frozen=True, slots=True)
class MediaInput:
    """One source media of an analysis. `path` is readable for the duration of `analyze`."""

    media_id: str
    kind: MediaKind
    tags: tuple[str, ...]
    path: Path
    mime_type: str
    original_name: str = ""
    width: int | None = None
    height: int | None = None
    frame_count: int | None = None
    duration_seconds: float | None = None

    @classmethod
    def from_facts(
        cls, facts: Any, *, media_id: str, tags: Sequence[str], path: Path, original_name: str = ""
    ) -> MediaInput:
        """A MediaInput from anything carrying the probed facts (`kind`, `mime_type`, `width`,
        `height`, `frame_count`, `duration_seconds`): a stored media row or a probe result."""
        return cls(
            media_id=media_id,
            kind=facts.kind,
            tags=tuple(tags),
            path=path,
            mime_type=facts.mime_type,
            original_name=original_name,
            width=facts.width,
            height=facts.height,
            frame_count=facts.frame_count,
            duration_seconds=facts.duration_seconds,
        )


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    """An analysis to run: its type, the caller's params merged over the analyzer's defaults,
    and the source media (chosen by the caller or by the analyzer's media rule)."""

    analysis_id: str
    type: str
    params: dict[str, Any]
    media: tuple[MediaInput, ...]
    #: The site's decision thresholds: `liveness`, `biometry`, `collection`.
    thresholds: dict[str, float]
    folder_meta_data: dict[str, Any] = field(default_factory=dict)
    #: The company the folder belongs to; None for a folder of no company (one an ADMIN created).
    company_id: str | None = None


@dataclass(frozen=True, slots=True)
class OutputImage:
    """An image an analyzer produced (a best shot, a face crop): JPEG bytes and a short name."""

    name: str
    jpeg: bytes


@dataclass(frozen=True, slots=True)
class MediaResult:
    """The result for one source media: numbers in `results_data`, and images to keep."""

    media_id: str
    results_data: dict[str, Any] = field(default_factory=dict)
    output_images: tuple[OutputImage, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What `analyze` returns: a decision, analysis-level numbers, per-media results, and the
    versions of the models that produced them."""

    resolution: Resolution
    results_data: dict[str, Any] = field(default_factory=dict)
    results_media: tuple[MediaResult, ...] = ()
    model_versions: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        allowed = (Resolution.SUCCESS, Resolution.DECLINED, Resolution.OPERATOR_REQUIRED)
        if self.resolution not in allowed:
            raise ValueError(f"an Outcome decides SUCCESS, DECLINED or OPERATOR_REQUIRED, not {self.resolution}")


class Analyzer(Protocol):
    def analyze(self, request: AnalysisRequest, ctx: Any) -> Outcome:
        """Run the analysis. `ctx` is an `appliance.sdk.AnalysisContext`. Raise to fail it: the
        appliance retries, then records the analysis FAILED with the exception's message."""


@dataclass(frozen=True, slots=True)
class AnalyzerSpec:
    """An analysis type a plugin offers, as given to `registry.register(...)`.

    `type` is matched case-insensitively and reported upper-case. `media_rule` picks the source
    media when the caller names none. `tags` are extra media tags this plugin understands
    (beyond the Oz ones). `plugin` and `plugin_version` are filled in by the registry.
    """

    type: str
    analyzer: Analyzer
    media_rule: MediaRule = MediaRule()
    default_params: dict[str, Any] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    description: str = ""
    plugin: str = ""
    plugin_version: str = ""


CheckStatus = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    """One row of `appliance doctor`: what was checked, `ok`, `warn` (works, but look at it) or
    `fail` (does not work), and one line saying why, for the technician."""

    name: str
    status: CheckStatus
    detail: str = ""

    def __post_init__(self) -> None:
        if self.status not in get_args(CheckStatus):
            raise ValueError(f"a DoctorCheck's status is ok, warn or fail, not {self.status!r}")
