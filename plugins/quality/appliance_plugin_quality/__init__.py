"""QUALITY: is a live person in front of the camera, did they make the requested gesture, and
which frame is the best shot? (built-in plugin; docs/liveness.md describes every check)

Media: videos and ZIP shot sets tagged `video_selfie*` and photos tagged `photo_selfie`. Per
media, in the Oz shape:

- `results_data.confidence_spoofing`: the fused chance of an attack in [0, 1] (the PAD models of
  the store and the model-free cues, fused by the store's fusion model or the default rule); at or
  above the site's liveness threshold (0.5) the media is an attack;
- `results_data.passive`: every cue's value, its term in the decision, which PAD models ran, what
  decided and at which threshold;
- `results_data.gestures`: for each gesture tag (`video_selfie_left/right/down/high/smile/eyes/
  scan`), whether it happened inside the video and which check failed;
- `results_data.reasons`: quality reasons (no face, several faces, face too small, blurred,
  dark, overexposed) with their numbers;
- `results_data.best_shot` and the output image `best_shot` (when `extract_best_shot`).

Decision: DECLINED when any media is an attack, has no usable face, or failed a requested
gesture; OPERATOR_REQUIRED when a media's face was not scored by any PAD model (reason
`pad_model_missing`: the model-free cues can find an attack, never vouch for a live face) or lies
past an edge of the fusion model's live envelope (`outside_live_envelope`: like no live face it was
fitted on); else SUCCESS. `results_data.operator_reasons` says why a person must look.

Params: `extract_best_shot` (default true), `use_pad_models` (default true: the store's PAD
models run, only those its fusion model reads when it has one; false: model-free cues only, so
never SUCCESS); set by a capture session (docs/capture.md): `challenge` (gestures in an order,
each within its prompt's window: DECLINED naming the first step that failed) and `capture` (what
the capture page saw of the camera: `flags` send the media to an operator, `capture_flagged`, or
decline it when `flag_action` is `decline`).
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
from .challenge import Challenge, check_challenge
from .fusion import OUTSIDE_LIVE_ENVELOPE, PAD_MODEL_MISSING, assess
from .gestures import GESTURE_TAGS, GestureSettings, check_gestures, gesture_sampling, requested_gestures
from .reasons import ReasonSettings, quality_reasons

__version__ = "0.1.0"

MEDIA_RULE = MediaRule(
    kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.SHOTS_SET}),
    tag_prefixes=("video_selfie", "photo_selfie"),
    excluded_tags=frozenset({"photo_id_back", "photo_id_front"}),
)
DEFAULT_PARAMS: dict[str, Any] = {"extract_best_shot": True, "use_pad_models": True, "challenge": None, "capture": None}
#: Why a capture's environment sends it to an operator (or declines it, as the capture says).
CAPTURE_FLAGGED = "capture_flagged"


def _assess_media(
    request: AnalysisRequest, ctx: AnalysisContext, media: MediaInput
) -> tuple[MediaResult, Resolution, dict[str, str]]:
    """One media's result, its verdict, and the models its verdict used."""
    gesture_settings = GestureSettings.from_params(request.params)
    challenge = Challenge.from_param(request.params["challenge"]) if request.params["challenge"] else None
    # a gesture needs the dense track; `video_selfie_blank` (a passive selfie) asks for none
    moves = [tag for tag in requested_gestures(media.tags) if GESTURE_TAGS[tag] != "blank"]
    if (moves or challenge) and media.kind is not MediaKind.IMAGE:
        # only a blink needs the eyelid contours
        blink = any(GESTURE_TAGS[tag] == "eyes" for tag in moves) or bool(challenge and challenge.needs_eyes)
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
    operator_reasons = [PAD_MODEL_MISSING] if passive.pad_model_missing or passive.confidence_spoofing is None else []
    if passive.outside_live_envelope:
        operator_reasons.append(OUTSIDE_LIVE_ENVELOPE)
    capture = request.params["capture"] or {}
    flagged = bool(capture.get("flags"))
    if flagged and capture.get("flag_action") != "decline":
        operator_reasons.append(CAPTURE_FLAGGED)
    challenged = None
    if challenge is not None:
        if media.kind is MediaKind.IMAGE:  # a photo has one frame: no gesture happens inside it
            challenged = {"passed": False, "failed_step": 0, "failed_gesture": challenge.steps[0].tag, "steps": []}
        else:
            challenged = check_challenge(challenge, track, media, gesture_settings).to_dict()
    data: dict[str, Any] = {
        "confidence_spoofing": passive.to_dict()["confidence_spoofing"],
        "passive": passive.to_dict(),
        "gestures": {tag: result.to_dict() for tag, result in gestures.items()},
        "reasons": reasons,
        "operator_reasons": operator_reasons,
        "best_shot": shot.to_dict() if shot else None,
        "challenge": challenged,
        "capture": capture or None,
    }
    gesture_failed = any(result.passed is False for result in gestures.values())
    challenge_failed = challenged is not None and not challenged["passed"]
    declined_capture = flagged and capture.get("flag_action") == "decline"
    if not passive.face_measured or passive.is_attack or gesture_failed or challenge_failed or declined_capture:
        verdict = Resolution.DECLINED
    elif operator_reasons:
        verdict = Resolution.OPERATOR_REQUIRED
    else:
        verdict = Resolution.SUCCESS
    images = (shot.output_image(),) if shot is not None and shot.jpeg is not None else ()
    models = dict(track.models)
    used = [
        *passive.pad.ran,
        *([passive.decided_by.removeprefix("fusion:")] if passive.decided_by.startswith("fusion:") else []),
    ]
    for name_version in used:
        name, version = name_version.split("@", 1)
        models[name] = version
    return MediaResult(media_id=media.media_id, results_data=data, output_images=images), verdict, models


#: The analysis's resolution from its media's: the worst wins.
_ORDER = (Resolution.DECLINED, Resolution.OPERATOR_REQUIRED, Resolution.SUCCESS)


class QualityAnalyzer:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        results, verdicts, models = [], [], {}
        for media in request.media:
            result, verdict, used = _assess_media(request, ctx, media)
            results.append(result)
            verdicts.append(verdict)
            models.update(used)
        scores = [
            r.results_data["confidence_spoofing"] for r in results if r.results_data["confidence_spoofing"] is not None
        ]
        operator_reasons = sorted({reason for r in results for reason in r.results_data["operator_reasons"]})
        return Outcome(
            resolution=next(r for r in _ORDER if r in verdicts) if verdicts else Resolution.DECLINED,
            results_data={
                "max_confidence_spoofing": max(scores) if scores else None,
                "media_passed": sum(v is Resolution.SUCCESS for v in verdicts),
                "operator_reasons": operator_reasons,
            },
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
