"""`ctx.faces(media)` for plugins: in the test kit, in a worker (two analyses of one media decode
and embed it once, even in two processes), and a clear error where there are no face models."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from appliance.core.services import AppServices
from appliance.domain.enums import AnalysisState
from appliance.queue.context import install_services, worker_services
from appliance.queue.tasks import run_analyses
from appliance.runtime import ModelRuntime
from appliance.sdk import (
    DEFAULT_MAX_FRAMES,
    AnalysisContext,
    AnalysisRequest,
    FaceModelsUnavailable,
    FaceTrack,
    Outcome,
    Resolution,
)
from appliance.sdk import context as sdk_context
from appliance.sdk.testing import media_input, run_analyzer, spec_from_plugin
from appliance.vision import VisionService
from tests.queue.conftest import add_analysis, add_folder, add_media, build_context, settings_for
from tests.vision import faces_plugin


@pytest.fixture
def decodings(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The media the analysis contexts decode, one entry per decoding."""
    seen: list[Path] = []
    real = sdk_context.iter_frames_rgb

    def counted(path: Path, *args: object) -> object:
        seen.append(path)
        return real(path, *args)

    monkeypatch.setattr(sdk_context, "iter_frames_rgb", counted)
    return seen


def test_a_context_without_face_models_says_how_to_get_them(samples: dict[str, Path]) -> None:
    with pytest.raises(FaceModelsUnavailable, match="models=.*APPLIANCE_MODELS_ROOT"):
        AnalysisContext().faces(media_input(samples["jpeg"]))


def test_two_analyses_of_one_media_decode_and_embed_it_once(
    runtime: ModelRuntime, samples: dict[str, Path], decodings: list[Path]
) -> None:
    service = VisionService(runtime, cache_dir=None)
    media = media_input(samples["mp4"])
    ctx = AnalysisContext(vision=service)

    first = ctx.faces(media)
    second = AnalysisContext(vision=service).faces(media)
    frames = list(ctx.frames(media, max_frames=DEFAULT_MAX_FRAMES))  # the ones the track was computed from, kept

    assert second is first and first.frames_with_face >= DEFAULT_MAX_FRAMES - 1
    assert [f.index for f in first.frames] == [index for index, _ in frames]
    assert decodings == [media.path] and (service.stats.embeddings, service.stats.computed) == (1, 1)


def test_frames_the_context_decoded_are_not_decoded_again(runtime: ModelRuntime, samples: dict[str, Path]) -> None:
    service = VisionService(runtime, cache_dir=None)
    ctx = AnalysisContext(vision=service)
    media = media_input(samples["mp4"])
    frames = list(ctx.frames(media, max_frames=DEFAULT_MAX_FRAMES))

    track = ctx.faces(media)
    assert [f.index for f in track.frames] == [index for index, _ in frames]
    assert (service.stats.decodes, service.stats.computed) == (0, 1)


def test_the_test_kit_takes_the_models_from_an_argument_or_the_environment(
    default_models_root: Path, samples: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[FaceTrack] = []

    class Probe:
        def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
            seen.append(ctx.faces(request.media[0]))
            return Outcome(Resolution.SUCCESS)

    run_analyzer(Probe(), [(samples["jpeg"], ["photo_selfie"])], models=default_models_root)
    monkeypatch.setenv("APPLIANCE_MODELS_ROOT", str(default_models_root))
    run_analyzer(Probe(), [(samples["jpeg"], ["photo_selfie"])])
    assert len(seen) == 2 and all(t.embedding is not None for t in seen)


def test_a_plugin_compares_faces_through_the_sdk(default_models_root: Path, samples: dict[str, Path]) -> None:
    spec = spec_from_plugin(faces_plugin, "FACES")
    outcome = run_analyzer(
        spec, [(samples["jpeg"], ["photo_id_front"]), (samples["mp4"], ["video_selfie"])], models=default_models_root
    )
    assert outcome.results_data["distance"] < 0.6
    assert outcome.model_versions["dlib-resnet"] == "0.3.0"
    assert [r.results_data["reasons"] for r in outcome.results_media] == [[], []]


def test_the_worker_builds_face_models_from_its_settings(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    ctx = worker_services(settings)
    try:
        assert ctx.vision is not None
        assert ctx.vision.runtime.store.root == settings.models_path
        assert ctx.vision._cache_dir is not None and ctx.vision._cache_dir("ab" * 18) == ctx.storage.derived_dir(
            "ab" * 18
        )
    finally:
        ctx.close()


def test_two_worker_processes_analysing_one_media_compute_its_track_once(
    runtime: ModelRuntime, samples: dict[str, Path], tmp_path: Path, decodings: list[Path]
) -> None:
    # two worker contexts with their own VisionService, as two processes have, over one storage
    settings = msgspec.structs.replace(settings_for(tmp_path / "data"), plugin_modules=["tests.vision.faces_plugin"])
    base = build_context(settings)
    contexts = [
        AppServices(
            settings,
            plugins=base.plugins,
            store=base.store,
            vision=VisionService(runtime, cache_dir=base.storage.derived_dir),
        )
        for _ in range(2)
    ]
    try:
        folder = add_folder(base)
        media = add_media(base, folder, samples["mp4"], ["video_selfie"])
        analyses = [add_analysis(base, folder, [media], type="FACES") for _ in contexts]
        for ctx, analysis in zip(contexts, analyses, strict=True):
            install_services(ctx)
            run_analyses(analysis.analysis_id)

        for analysis in analyses:
            done = base.store.get_analysis(analysis.analysis_id)
            assert done is not None and done.state is AnalysisState.FINISHED, done
            assert done.results_media[0]["results_data"]["frames_with_face"] >= DEFAULT_MAX_FRAMES - 1
            assert done.model_versions["blazeface-full"] == "0.6.0"
        first, second = (ctx.vision.stats for ctx in contexts if ctx.vision)
        assert (first.computed, first.embeddings, second.computed, second.embeddings, second.disk_hits) == (
            1,
            1,
            0,
            0,
            1,
        )
        assert len(decodings) == 1

        derived = base.storage.derived_dir(media.media_id)
        assert len(list(derived.glob("facetrack-*.npz"))) == 1
        base.storage.delete_derived(media.media_id)  # what deleting the media does
        assert not derived.exists()
    finally:
        install_services(None)
        base.close()
