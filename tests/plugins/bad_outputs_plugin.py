"""BAD_OUTPUT: an analysis whose plugin misbehaves on purpose, for the tests that prove every
runner of an analysis refuses what the plugin contract refuses. It imports only `appliance.sdk`.

The param `fault` names what goes wrong (`ALL_FAULTS`); each is something `analyze` may not
return. Without a fault it answers soundly, with a JPEG output image per media.
"""

from __future__ import annotations

from appliance.sdk import (
    AnalysisContext,
    AnalysisRequest,
    AnalyzerRegistry,
    AnalyzerSpec,
    MediaResult,
    Outcome,
    OutputImage,
    Resolution,
    hookimpl,
)

__version__ = "1.0"

#: The smallest thing that starts like a JPEG file (what the contract checks of an image's bytes).
JPEG = b"\xff\xd8\xff\xe0fake"
#: A media id no request ever holds.
FOREIGN_MEDIA = "../../somewhere-else"

#: fault -> the output images of every result, and the media id of each result (None: the source media's)
FAULTS: dict[str, tuple[tuple[OutputImage, ...], str | None]] = {
    "parent path": ((OutputImage("../escape", JPEG),), None),
    "upper case": ((OutputImage("Upper", JPEG),), None),
    "empty name": ((OutputImage("", JPEG),), None),
    "long name": ((OutputImage("x" * 65, JPEG),), None),
    "dotted name": ((OutputImage("dot.jpg", JPEG),), None),
    "duplicate name": ((OutputImage("crop", JPEG), OutputImage("crop", JPEG)), None),
    "not a JPEG": ((OutputImage("crop", b"\x89PNG\r\n\x1a\n"),), None),
    "foreign media": ((OutputImage("crop", JPEG),), FOREIGN_MEDIA),
}
#: Faults that are not about one result: the same media answered twice, and no Outcome at all.
SAME_MEDIA_TWICE = "same media twice"
NOT_AN_OUTCOME = "not an outcome"
ALL_FAULTS = (*FAULTS, SAME_MEDIA_TWICE, NOT_AN_OUTCOME)


class BadOutputAnalyzer:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        fault = request.params.get("fault")
        if fault is None:
            results = tuple(MediaResult(m.media_id, output_images=(OutputImage("crop", JPEG),)) for m in request.media)
            return Outcome(resolution=Resolution.SUCCESS, results_media=results)
        if fault == NOT_AN_OUTCOME:
            return {"resolution": "SUCCESS"}  # type: ignore[return-value]  # the fault itself
        if fault == SAME_MEDIA_TWICE:
            result = MediaResult(media_id=request.media[0].media_id, output_images=(OutputImage("crop", JPEG),))
            return Outcome(resolution=Resolution.SUCCESS, results_media=(result, result))
        images, media_id = FAULTS[fault]
        results = tuple(MediaResult(media_id=media_id or m.media_id, output_images=images) for m in request.media)
        return Outcome(resolution=Resolution.SUCCESS, results_media=results)


@hookimpl
def register_analyzers(registry: AnalyzerRegistry) -> None:
    registry.register(AnalyzerSpec(type="BAD_OUTPUT", analyzer=BadOutputAnalyzer()))
