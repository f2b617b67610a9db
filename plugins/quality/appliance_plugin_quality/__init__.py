"""QUALITY: is a live person in front of the camera, did they make the requested gesture, and
which frame is the best shot? (built-in plugin; docs/liveness.md describes every check)

Media: videos and ZIP shot sets tagged `video_selfie*` and photos tagged `photo_selfie`. Per
media, in the Oz shape:

- `results_data.confidence_spoofing`: the fused chance of an attack in [0, 1] (passive PAD
  models in the store, when any, and the model-free signals); at or above the site's liveness
  threshold (0.5) the media is an attack;
- `results_data.passive`: which detectors ran and each one's numbers;
- `results_data.gestures`: for each gesture tag (`video_selfie_left/right/down/high/smile/eyes/
  scan`), whether it happened inside the video and which check failed;
- `results_data.reasons`: quality reasons (no face, several faces, face too small, blurred,
  dark, overexposed) with their numbers;
- `results_data.best_shot` and the output image `best_shot` (when `extract_best_shot`).

Decision: DECLINED when any media is an attack, has no usable face, or failed a requested
gesture; else SUCCESS. Liveness never answers OPERATOR_REQUIRED (as in Oz).

Params: `extract_best_shot` (default true), `use_pad_models` (default true: every installed
model with task presentation_attack runs; false: model-free signals only).
"""

from __future__ import annotations

from typing import Any

from appliance.sdk import (
    AnalysisContext,
    AnalysisRequest,
    AnalyzerRegistry,
    AnalyzerSpec,
    MediaInput,
    MediaKind,
    MediaResult,
    MediaRule,
    Outcome,
    Resolution,
    hookimpl,
)

from .best_shot import best_shot
from .fusion import assess
from .gestures import GESTURE_TAGS, GestureSettings, check_gestures, gesture_sampling, requested_gestures
from .reasons import ReasonSettings, quality_reasons

__version__ = "0.1.0"

MEDIA_RULE = MediaRule(
    kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.SHOTS_SET}),
    tag_prefixes=("video_selfie", "photo_selfie"),
    excluded_tags=frozenset({"photo_id_back", "photo_id_front"}),
)
DEFAULT_PARAMS: dict[str, Any] = {"extract_best_shot": True, "use_pad_models": True}


def _assess_media(
    request: AnalysisRequest, ctx: AnalysisContext, media: MediaInput
) -> tuple[MediaResult, bool, dict[str, str]]:
    """One media's result, whether it passes, and the models its verdict used."""
    gesture_settings = GestureSettings.from_params(request.params)
    # a gesture needs the dense track; `video_selfie_blank` (a passive selfie) asks for none
    moves = [tag for tag in requested_gestures(media.tags) if GESTURE_TAGS[tag] != "blank"]
    if moves and media.kind is not MediaKind.IMAGE:
        blink = any(GESTURE_TAGS[tag] == "eyes" for tag in moves)  # only a blink needs the eyelid contours
        track = ctx.faces(media, gesture_sampling(media, gesture_settings), eyes=blink)
    else:
        track = ctx.faces(media)  # the default track, which BIOMETRY of the same media shares
    frames = dict(ctx.frames(media, track.max_frames))  # after the track: decoded once, for both
    passive = assess(
        ctx, media, track, threshold=request.thresholds["liveness"], use_models=bool(request.params["use_pad_models"])
    )
    gestures = check_gestures(media.tags, track, media.kind, gesture_settings)
    shot = best_shot(track, frames) if request.params["extract_best_shot"] else None
    position = shot.position if shot else None
    reasons = quality_reasons(
        track, position, frames.get(shot.index) if shot else None, ReasonSettings.from_params(request.params)
    )
    data: dict[str, Any] = {
        "confidence_spoofing": passive.to_dict()["confidence_spoofing"],
        "passive": passive.to_dict(),
        "gestures": {tag: result.to_dict() for tag, result in gestures.items()},
        "reasons": reasons,
        "best_shot": shot.to_dict() if shot else None,
    }
    no_face = passive.is_attack is None
    gesture_failed = any(result.passed is False for result in gestures.values())
    passes = not no_face and not passive.is_attack and not gesture_failed
    images = (shot.output_image(),) if shot is not None and shot.jpeg is not None else ()
    models = dict(track.models)
    models.update(name_version.split("@", 1) for name_version in passive.pad.ran)  # type: ignore[arg-type]
    return MediaResult(media_id=media.media_id, results_data=data, output_images=images), passes, models


class QualityAnalyzer:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        results, verdicts, models = [], [], {}
        for media in request.media:
            result, passes, used = _assess_media(request, ctx, media)
            results.append(result)
            verdicts.append(passes)
            models.update(used)
        scores = [
            r.results_data["confidence_spoofing"] for r in results if r.results_data["confidence_spoofing"] is not None
        ]
        return Outcome(
            resolution=Resolution.SUCCESS if all(verdicts) else Resolution.DECLINED,
            results_data={"max_confidence_spoofing": max(scores) if scores else None, "media_passed": sum(verdicts)},
            results_media=tuple(results),
            model_versions=models,
        )


@hookimpl
def register_analyzers(registry: AnalyzerRegistry) -> None:
    registry.register(
        AnalyzerSpec(
            type="QUALITY",
            analyzer=QualityAnalyzer(),
            media_rule=MEDIA_RULE,
            default_params=DEFAULT_PARAMS,
            description="liveness: passive attack detection, active gestures, best shot",
        )
    )
