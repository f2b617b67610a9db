"""BRIGHTNESS: a small, real analysis for the appliance's own tests, loaded as a plugin module
(`plugin_modules = ["tests.plugins.brightness_plugin"]`). It imports only `appliance.sdk`.

Per media, over up to `max_frames` sampled frames, it measures the mean luma (0..255) and the
sharpness (variance of the Laplacian of the luma). The analysis SUCCEEDS when every media's mean
luma lies within [min_luma, max_luma], and is DECLINED otherwise. Each media result carries a
small JPEG of its brightest frame.

Params:
- `min_luma`, `max_luma` (default 40, 220): the accepted range of mean luma.
- `max_frames` (default 8): frames sampled per video or shot set.
- `hold_seconds` (default 0): sleep that long before answering, so that a test can kill the
  worker in the middle of an analysis or watch it time out.
- `raise_error` (default ""): if set, raise RuntimeError with this message instead of answering,
  so that a test can watch the retries and the FAILED analysis that follow.
- `in_range_resolution` (default "SUCCESS"): the decision when every media is in range;
  "OPERATOR_REQUIRED" gives a test a folder that waits for a person.
"""

from __future__ import annotations

import time

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
    OutputImage,
    Resolution,
    hookimpl,
)

__version__ = "1.0"

THUMBNAIL_SIDE = 96


class BrightnessAnalyzer:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        params = request.params
        time.sleep(float(params["hold_seconds"]))
        if params["raise_error"]:
            raise RuntimeError(str(params["raise_error"]))
        results: list[MediaResult] = []
        in_range = True
        for media in request.media:
            lumas: list[float] = []
            sharpness: list[float] = []
            brightest: np.ndarray | None = None
            for _, rgb in ctx.frames(media, max_frames=int(params["max_frames"])):
                gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
                luma = float(gray.mean())
                if not lumas or luma > max(lumas):
                    brightest = rgb
                lumas.append(luma)
                sharpness.append(float(cv2.Laplacian(gray, cv2.CV_64F).var()))
            if brightest is None:
                raise ValueError(f"media {media.media_id} has no frame to measure")
            mean_luma = float(np.mean(lumas))
            in_range = in_range and params["min_luma"] <= mean_luma <= params["max_luma"]
            results.append(
                MediaResult(
                    media_id=media.media_id,
                    results_data={
                        "mean_luma": round(mean_luma, 2),
                        "sharpness": round(float(np.mean(sharpness)), 2),
                        "frames": len(lumas),
                    },
                    output_images=(OutputImage(name="brightest_frame", jpeg=_thumbnail_jpeg(brightest)),),
                )
            )
        return Outcome(
            resolution=Resolution(params["in_range_resolution"]) if in_range else Resolution.DECLINED,
            results_data={"min_luma": params["min_luma"], "max_luma": params["max_luma"]},
            results_media=tuple(results),
            model_versions={"brightness": __version__},
        )


def _thumbnail_jpeg(rgb: np.ndarray) -> bytes:
    scale = THUMBNAIL_SIDE / max(rgb.shape[:2])
    small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    if not ok:
        raise ValueError("could not encode the brightest frame as JPEG")
    return jpeg.tobytes()


@hookimpl
def register_analyzers(registry: AnalyzerRegistry) -> None:
    registry.register(
        AnalyzerSpec(
            type="BRIGHTNESS",
            analyzer=BrightnessAnalyzer(),
            media_rule=MediaRule(min_count=1),
            default_params={
                "min_luma": 40,
                "max_luma": 220,
                "max_frames": 8,
                "hold_seconds": 0,
                "raise_error": "",
                "in_range_resolution": "SUCCESS",
            },
            description="Mean luma and sharpness of each media; declines media too dark or too bright.",
        )
    )
