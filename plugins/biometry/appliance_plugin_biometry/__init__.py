"""BIOMETRY: are the faces in a folder's media the same person? (1:1 matching, built-in plugin)

Media: photos and videos tagged `photo_selfie`, `photo_id_front` or `video_selfie*` (never
`photo_id_back`), at least two. Every media's face track gives the embedding of its best frame's
face; every pair of media is compared, and each distance becomes a confidence through the
SDK's calibrated mapping (`appliance.sdk.calibration_for`, which COLLECTION reports too).
Results, in the Oz shape:

- `results_data.min_confidence` / `max_confidence`: the least and most similar pairs; the
  decision uses `min_confidence` (every pair must match);
- `results_data.pairs`: each pair's media ids, distance and confidence;
- per media: `face_found`, `reasons`, the face's box, quality numbers and the embedding space,
  and the aligned face crop the embedding was computed from as output image `face`.

Operating point: every embedding space has calibrated operating points (`appliance.sdk.calibration_for`):
`default`, the distance at a false match rate of 1e-3, which the confidence maps to 0.85, and
`strict`, at 1e-4. A company chooses one in its `meta_data` (`"biometry_operating_point": "strict"`,
set through the companies API); the analysis param `operating_point` overrides it for one request.
`results_data.operating_point` names it: `name`, `target_fmr`, `distance` (pairs closer than this
match), `threshold` (the confidence a pair needs: the site's biometry threshold, 0.85 by default, or
for `strict` the confidence at its distance when that is higher) and `embedding_space`;
`results_data.score` is `min_confidence`, the score the threshold is applied to.

Decision: SUCCESS when `min_confidence` reaches the operating point's threshold, DECLINED below
it. Media without a usable face (NO_FACE, FACE_TOO_SMALL) cannot be compared: with fewer than two
usable media the folder is DECLINED and `results_data.reason` says which
media lacked a face and why. A media with several faces is compared by its largest face, and the
decision can then at best be OPERATOR_REQUIRED: a person has to check who is who.

Params: `operator_required_below` (default null): a confidence below the threshold; a
`min_confidence` between it and the threshold then gives OPERATOR_REQUIRED instead of DECLINED
(the Oz "biometry band" for cases a person should look at). `operating_point` (default null: the
company's choice, else `default`): `default` or `strict`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from appliance.sdk import (
    OPERATING_POINTS,
    AnalysisContext,
    AnalysisRequest,
    AnalyzerRegistry,
    AnalyzerSpec,
    FaceReason,
    FaceTrack,
    MediaInput,
    MediaKind,
    MediaResult,
    MediaRule,
    OperatingPoint,
    Outcome,
    OutputImage,
    PluginServicesUnavailable,
    Resolution,
    calibration_for,
    distance,
    hookimpl,
)

__version__ = "0.1.0"

#: The key of a company's `meta_data` that chooses its operating point.
COMPANY_CHOICE = "biometry_operating_point"

MEDIA_RULE = MediaRule(
    kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.SHOTS_SET}),
    tag_prefixes=("photo_selfie", "photo_id_front", "video_selfie"),
    excluded_tags=frozenset({"photo_id_back"}),
    min_count=2,
)


@dataclass(frozen=True, slots=True)
class _Face:
    media: MediaInput
    track: FaceTrack

    @property
    def usable(self) -> bool:
        return self.track.comparable


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("could not encode the face crop")
    return encoded.tobytes()


def _media_result(face: _Face) -> MediaResult:
    track = face.track
    data: dict[str, Any] = {"face_found": face.usable, "reasons": [r.value for r in track.reasons]}
    if track.face is not None and track.quality is not None:
        data["face_box"] = [round(float(v), 1) for v in track.face.box]
        data["quality"] = {k: round(v, 3) for k, v in track.quality.to_dict().items()}
    if track.embedding is not None:
        data["embedding_space"] = track.embedding.space
    images = (OutputImage("face", _jpeg(track.chip)),) if face.usable and track.chip is not None else ()
    return MediaResult(media_id=face.media.media_id, results_data=data, output_images=images)


class BiometryAnalyzer:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        # Photos first: nobody else needs their tracks, while another worker may be computing a
        # video's for its own analysis of it (QUALITY), which this one then reads instead of redoing.
        tracks = {m.media_id: ctx.faces(m) for m in sorted(request.media, key=lambda m: m.kind is not MediaKind.IMAGE)}
        faces = [_Face(media, tracks[media.media_id]) for media in request.media]
        models = {name: version for face in faces for name, version in face.track.models.items()}
        results = tuple(_media_result(face) for face in faces)
        usable = [face for face in faces if face.usable]
        if len(usable) < 2:
            missing = {f.media.media_id: [r.value for r in f.track.reasons] for f in faces if not f.usable}
            return Outcome(
                resolution=Resolution.DECLINED,
                results_data={
                    "min_confidence": 0.0,
                    "max_confidence": 0.0,
                    "pairs": [],
                    "reason": "fewer than two media with a usable face",
                    "media_without_face": missing,
                },
                results_media=results,
                model_versions=models,
            )
        first = usable[0].track.embedding
        assert first is not None  # a usable face has its embedding
        space = first.space
        calibration = calibration_for(space)
        point = calibration.operating_point(_operating_point_name(request, ctx))
        threshold = float(request.thresholds["biometry"])
        if point.name != OPERATING_POINTS[0]:
            threshold = max(threshold, round(calibration.confidence(point.distance), 4))
        pairs: list[dict[str, Any]] = []
        for a, b in itertools.combinations(usable, 2):
            assert a.track.embedding is not None and b.track.embedding is not None
            d = distance(a.track.embedding, b.track.embedding)
            pairs.append(
                {
                    "media": [a.media.media_id, b.media.media_id],
                    "distance": round(d, 4),
                    "confidence": round(calibration.confidence(d), 4),
                }
            )
        low = min(p["confidence"] for p in pairs)
        high = max(p["confidence"] for p in pairs)
        return Outcome(
            resolution=self._decide(low, threshold, request, usable),
            results_data={
                "min_confidence": low,
                "max_confidence": high,
                "score": low,
                "operating_point": _described(point, threshold, space),
                "pairs": pairs,
            },
            results_media=results,
            model_versions=models,
        )

    @staticmethod
    def _decide(min_confidence: float, threshold: float, request: AnalysisRequest, usable: list[_Face]) -> Resolution:
        band = request.params.get("operator_required_below")
        several_faces = any(FaceReason.MULTIPLE_FACES in f.track.reasons for f in usable)
        if min_confidence >= threshold:
            return Resolution.OPERATOR_REQUIRED if several_faces else Resolution.SUCCESS
        if band is not None and min_confidence >= float(band):
            return Resolution.OPERATOR_REQUIRED
        return Resolution.DECLINED


def _operating_point_name(request: AnalysisRequest, ctx: AnalysisContext) -> str:
    """The request's `operating_point` param, else its company's choice, else `default`."""
    name = request.params.get("operating_point")
    where = "the param operating_point"
    if name is None and request.company_id is not None:
        try:
            name = ctx.services.company_meta(request.company_id).get(COMPANY_CHOICE)
            where = f"the company's meta_data {COMPANY_CHOICE}"
        except PluginServicesUnavailable:  # the instant mode: no stored company choice to read
            name = None
    if name is None:
        return OPERATING_POINTS[0]
    if name not in OPERATING_POINTS:
        raise ValueError(f"{where} must be one of {', '.join(OPERATING_POINTS)}, not {name!r}")
    return str(name)


def _described(point: OperatingPoint, threshold: float, space: str) -> dict[str, Any]:
    return {**point.to_dict(), "threshold": threshold, "embedding_space": space}


@hookimpl
def register_analyzers(registry: AnalyzerRegistry) -> None:
    registry.register(
        AnalyzerSpec(
            type="BIOMETRY",
            analyzer=BiometryAnalyzer(),
            media_rule=MEDIA_RULE,
            default_params={"operator_required_below": None, "operating_point": None},
            description="1:1 face matching between every pair of the folder's face media",
        )
    )
