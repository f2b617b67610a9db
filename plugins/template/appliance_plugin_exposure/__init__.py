"""EXPOSURE: how much of each media is crushed to black or burnt to white.

A template to copy: one analysis type, registered through the `register_analyzers` hook, that
reads frames through the context and decides with a threshold param. It imports only
`appliance.sdk`, as every plugin must.

Params:
- `dark_level` (default 16): a pixel whose luma (0..255) is at most this is under-exposed.
- `bright_level` (default 240): a pixel whose luma is at least this is over-exposed.
- `max_clipped_fraction` (default 0.25): the analysis is DECLINED when, in any media, the
  under-exposed or the over-exposed pixels make up more than this fraction; else SUCCESS.
- `max_frames` (default 5): frames sampled per video or shot set.
"""

from __future__ import annotations

import cv2
import numpy as np

from appliance.sdk import (
    AnalysisContext,
    AnalysisRequest,
    AnalyzerRegistry,
    AnalyzerSpec,
    MediaResult,
    MediaRule,
    Outcome,
    Resolution,
    hookimpl,
)

__version__ = "0.1.0"


class ExposureAnalyzer:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        p = request.params
        results = []
        worst = 0.0
        for media in request.media:
            under: list[float] = []
            over: list[float] = []
            for _, rgb in ctx.frames(media, max_frames=int(p["max_frames"])):
                luma = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                under.append(float(np.mean(luma <= p["dark_level"])))
                over.append(float(np.mean(luma >= p["bright_level"])))
            underexposed, overexposed = float(np.mean(under)), float(np.mean(over))
            worst = max(worst, underexposed, overexposed)
            results.append(
                MediaResult(
                    media_id=media.media_id,
                    results_data={"underexposed": round(underexposed, 4), "overexposed": round(overexposed, 4)},
                )
            )
        # Raising would fail the analysis (after retries) with the message; a decision is not a failure.
        decision = Resolution.DECLINED if worst > p["max_clipped_fraction"] else Resolution.SUCCESS
        return Outcome(
            resolution=decision,
            results_data={"worst_clipped_fraction": round(worst, 4)},
            results_media=tuple(results),
        )


@hookimpl
def register_analyzers(registry: AnalyzerRegistry) -> None:
    registry.register(
        AnalyzerSpec(
            type="EXPOSURE",
            analyzer=ExposureAnalyzer(),
            media_rule=MediaRule(min_count=1),
            default_params={"dark_level": 16, "bright_level": 240, "max_clipped_fraction": 0.25, "max_frames": 5},
            description="Fractions of under- and over-exposed pixels per media.",
        )
    )
