from __future__ import annotations

from pathlib import Path

import pytest

from appliance.domain.errors import AppError, ErrorCode
from appliance.sdk import AnalysisContext, AnalysisRequest, AnalyzerRegistry, MediaKind, Outcome, Resolution
from appliance.sdk.testing import run_analyzer, spec_from_plugin
from tests.plugins import brightness_plugin


class Recorder:
    """A bare analyzer that keeps what it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[AnalysisRequest, AnalysisContext]] = []

    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        self.seen.append((request, ctx))
        return Outcome(resolution=Resolution.OPERATOR_REQUIRED, results_data={"n": len(request.media)})


def test_a_bare_analyzer_runs_on_probed_media_with_the_default_thresholds(astronaut: Path, ramp_video: Path) -> None:
    recorder = Recorder()

    outcome = run_analyzer(recorder, [(astronaut, ["photo_selfie"]), (ramp_video, ["video_selfie"])], {"p": 1})

    assert outcome == Outcome(resolution=Resolution.OPERATOR_REQUIRED, results_data={"n": 2})
    ((request, ctx),) = recorder.seen
    assert request.type == "TEST" and request.params == {"p": 1}
    assert request.thresholds == ctx.thresholds == {"liveness": 0.5, "biometry": 0.85, "collection": 0.85}
    photo, video = request.media
    assert (photo.kind, photo.mime_type, photo.tags) == (MediaKind.IMAGE, "image/jpeg", ("photo_selfie",))
    assert (photo.width, photo.height) == (512, 512)
    assert (video.kind, video.frame_count, video.duration_seconds) == (MediaKind.VIDEO, 20, 2.0)
    assert photo.media_id != video.media_id and photo.original_name == "astronaut.jpg"


def test_thresholds_can_be_set(astronaut: Path) -> None:
    recorder = Recorder()
    run_analyzer(recorder, [(astronaut, [])], thresholds={"liveness": 0.9})

    assert recorder.seen[0][0].thresholds == {"liveness": 0.9}


def test_a_file_the_appliance_refuses_is_refused(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a photo")

    with pytest.raises(AppError) as raised:
        run_analyzer(Recorder(), [(text, [])])
    assert raised.value.code is ErrorCode.MEDIA_UNSUPPORTED_TYPE


def test_analyze_must_return_an_outcome(astronaut: Path) -> None:
    class Sloppy:
        def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> object:
            return {"resolution": "SUCCESS"}

    with pytest.raises(TypeError, match="must return an appliance.sdk.Outcome, not dict"):
        run_analyzer(Sloppy(), [(astronaut, [])])  # type: ignore[arg-type]


def test_spec_from_plugin_finds_only_registered_types() -> None:
    with pytest.raises(LookupError, match=r"registers no analysis type EXPOSURE; it registers \['BRIGHTNESS'\]"):
        spec_from_plugin(brightness_plugin, "EXPOSURE")


def test_a_hook_without_hookimpl_is_never_called() -> None:
    class Unmarked:
        def register_analyzers(self, registry: AnalyzerRegistry) -> None:
            brightness_plugin.register_analyzers(registry)

    with pytest.raises(LookupError, match=r"plugin Unmarked registers no analysis type BRIGHTNESS; it registers \[\]"):
        spec_from_plugin(Unmarked(), "BRIGHTNESS")
