"""FACES: a test plugin (imports only `appliance.sdk`) that reports each media's face track, as
QUALITY and BIOMETRY will: `plugin_modules = ["tests.vision.faces_plugin"]`."""

from __future__ import annotations

from appliance.sdk import (
    AnalysisContext,
    AnalysisRequest,
    AnalyzerRegistry,
    AnalyzerSpec,
    MediaResult,
    Outcome,
    Resolution,
    distance,
    hookimpl,
)

__version__ = "1.0"


class FacesAnalyzer:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        results, versions, embeddings = [], {}, []
        for media in request.media:
            track = ctx.faces(media)
            versions.update(track.models)
            if track.embedding is not None:
                embeddings.append(track.embedding)
            results.append(
                MediaResult(
                    media_id=media.media_id,
                    results_data={
                        "frames": len(track.frames),
                        "frames_with_face": track.frames_with_face,
                        "reasons": [str(r) for r in track.reasons],
                        "box": list(track.face.box) if track.face else None,
                        "embedding_space": track.embedding.space if track.embedding else None,
                    },
                )
            )
        data = {"distance": distance(embeddings[0], embeddings[1]) if len(embeddings) == 2 else None}
        return Outcome(Resolution.SUCCESS, results_data=data, results_media=tuple(results), model_versions=versions)


@hookimpl
def register_analyzers(registry: AnalyzerRegistry) -> None:
    registry.register(AnalyzerSpec(type="FACES", analyzer=FacesAnalyzer()))
