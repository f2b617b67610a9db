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

Decision: SUCCESS when `min_confidence` reaches the site's biometry threshold (0.85 by default),
DECLINED below it. Media without a usable face (NO_FACE, FACE_TOO_SMALL) cannot be compared:
with fewer than two usable media the folder is DECLINED and `results_data.reason` says which
media lacked a face and why. A media with several faces is compared by its largest face, and the
decision can then at best be OPERATOR_REQUIRED: a person has to check who is who.

Params: `operator_required_below` (default null): a confidence below the threshold; a
`min_confidence` between it and the threshold then gives OPERATOR_REQUIRED instead of DECLINED
(the Oz "biometry band" for cases a person should look at).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from appliance.sdk import (
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
    Outcome,
    OutputImage,
    Resolution,
    calibration_for,
    distance,
    hookimpl,
)

__version__ = "0.1.0"

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
        pairs = []
        for a, b in itertools.combinations(usable, 2):
            assert a.track.embedding is not None and b.track.embedding is not None
            d = distance(a.track.embedding, b.track.embedding)
            confidence = calibration_for(a.track.embedding.space).confidence(d)
            pairs.append(
                {
                    "media": [a.media.media_id, b.media.media_id],
                    "distance": round(d, 4),
                    "confidence": round(confidence, 4),
                }
            )
        low = min(p["confidence"] for p in pairs)
        high = max(p["confidence"] for p in pairs)
        return Outcome(
            resolution=self._decide(low, request, usable),
            results_data={"min_confidence": low, "max_confidence": high, "pairs": pairs},
            results_media=results,
            model_versions=models,
        )

    @staticmethod
    def _decide(min_confidence: float, request: AnalysisRequest, usable: list[_Face]) -> Resolution:
        threshold = request.thresholds["biometry"]
        band = request.params.get("operator_required_below")
        several_faces = any(FaceReason.MULTIPLE_FACES in f.track.reasons for f in usable)
        if min_confidence >= threshold:
            return Resolution.OPERATOR_REQUIRED if several_faces else Resolution.SUCCESS
        if band is not None and min_confidence >= float(band):
            return Resolution.OPERATOR_REQUIRED
        return Resolution.DECLINED


@hookimpl
def register_analyzers(registry: AnalyzerRegistry) -> None:
    registry.register(
        AnalyzerSpec(
            type="BIOMETRY",
            analyzer=BiometryAnalyzer(),
            media_rule=MEDIA_RULE,
            default_params={"operator_required_below": None},
            description="1:1 face matching between every pair of the folder's face media",
        )
    )
