"""Milliseconds per stage of the QUALITY analysis of a 5-second 720p video, on ONE thread.

Stages, each timed on its own with nothing cached: decode (the default track's sampled frames,
`DEFAULT_MAX_FRAMES`), the face track of those frames (detector, FaceMesh, one embedding), the
passive check's stages (the PAD models, the image cues, the motion cues, the fusion), the gesture
track (about 15 frames per second, what a gesture tag asks for) with every gesture check, the best
shot with its JPEG, and the whole analysis for a passive selfie (`video_selfie_blank`) and for a
blink selfie (`video_selfie_eyes`). Prints p50 and p95.

The passive stages and the passive selfie are measured twice in the same run, with the MiniFASNet
bundle as it shipped (Silent-Face's pair, installed by packaging/recipes/minifasnet.py) and with
the liveness bundle (every PAD model and the fitted fusion, packaging/recipes/liveness.py: it
measures and fits on the shared labelled media first, a few minutes), and the ratio of the two is
printed. Both need the conversion's PyTorch (scripts/setup-convert) and the shared weights.

Media: the standard benchmark clip (shared data bench/selfie720p_1mbps.mp4).

    .venv/bin/python bench/quality_stages.py [--repeat 10] [--data ../shared/data]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy, OpenCV and the runtimes load

import argparse
import dataclasses
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

import cv2
import msgspec
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import appliance_plugin_quality  # noqa: E402
from appliance_plugin_quality.best_shot import best_shot  # noqa: E402
from appliance_plugin_quality.fusion import assess  # noqa: E402
from appliance_plugin_quality.gestures import GESTURE_TAGS, check_gestures, gesture_sampling  # noqa: E402
from stages import timed  # noqa: E402  (bench/stages.py, beside this script)

from appliance.ops.settings import Thresholds  # noqa: E402
from appliance.runtime import (  # noqa: E402
    ModelRuntime,
    ModelStore,
    encode_card,  # noqa: E402
)
from appliance.sdk import DEFAULT_MAX_FRAMES, AnalysisContext, AnalyzerSpec, MediaInput  # noqa: E402
from appliance.sdk.requests import build_request  # noqa: E402
from appliance.sdk.testing import default_models, media_input, spec_from_plugin  # noqa: E402
from appliance.vision import VisionService  # noqa: E402
from tests.support.recipes import load_recipe  # noqa: E402

SILENT_FACE = ("silentface_2.7_80x80_MiniFASNetV2.pth", "silentface_4_0_0_80x80_MiniFASNetV1SE.pth")


def minifasnet_bundle(data: Path, store: Path) -> None:
    """The MiniFASNet pair as its bundle shipped (its cards then had no `min_context`)."""
    recipe = load_recipe("minifasnet")
    weights = [data / "models" / name for name in SILENT_FACE]
    if recipe.main([*(a for w in weights for a in ("--pth", str(w))), "--store", str(store), "--activate"]):
        sys.exit("quality_stages: the MiniFASNet recipe failed (scripts/setup-convert? the shared weights?)")
    models = ModelStore(store)
    for name in ("silentface-v2-2.7", "silentface-v1se-4.0"):
        card = models.card(name)
        params = {k: v for k, v in card.params.items() if k != "min_context"}
        (store / name / card.version / "card.json").write_bytes(
            encode_card(msgspec.structs.replace(card, params=params))
        )


def liveness_bundle(data: Path, store: Path) -> None:
    load_recipe("liveness").build(data / "models", data, store)


Rows = list[tuple[str, list[float]]]


@dataclasses.dataclass(frozen=True)
class Bench:
    """What every stage is timed with: the clip as probed at upload, the site's thresholds, QUALITY."""

    probed: MediaInput
    thresholds: dict[str, float]
    repeat: int
    spec: AnalyzerSpec = dataclasses.field(
        default_factory=lambda: spec_from_plugin(appliance_plugin_quality, "QUALITY")
    )

    def fresh(self, tags: list[str]) -> MediaInput:
        """The clip under a new media id: nothing cached under it."""
        return dataclasses.replace(self.probed, media_id=str(uuid.uuid4()), tags=tuple(tags))

    def context(self, runtime: ModelRuntime) -> AnalysisContext:
        """A new vision service: no track cached, the runtime's models kept loaded."""
        return AnalysisContext(self.thresholds, vision=VisionService(runtime))

    def analysis(self, runtime: ModelRuntime, tags: list[str], repeat: int) -> list[float]:
        """The whole QUALITY analysis of the clip tagged `tags`, nothing cached."""

        def run() -> None:
            request = build_request(
                self.spec, analysis_id="bench", params=None, media=[self.fresh(tags)], thresholds=self.thresholds
            )
            self.spec.analyzer.analyze(request, self.context(runtime))

        return timed(run, repeat)


def common_stages(bench: Bench, runtime: ModelRuntime) -> Rows:
    """Decoding, the face track, the best shot and the gesture track: the same for every bundle."""
    ctx = bench.context(runtime)
    blank = bench.fresh(["video_selfie", "video_selfie_blank"])
    frames = dict(ctx.frames(blank, DEFAULT_MAX_FRAMES))
    track = ctx.faces(blank, DEFAULT_MAX_FRAMES)
    gesture_tags = sorted(tag for tag, g in GESTURE_TAGS.items() if g != "blank")
    gesture_frames = gesture_sampling(bench.fresh(gesture_tags))

    def gesture_track() -> None:
        c, media = bench.context(runtime), bench.fresh(gesture_tags)
        dict(c.frames(media, gesture_frames))
        check_gestures(gesture_tags, c.faces(media, gesture_frames, eyes=True), media.kind)

    decode = timed(lambda: dict(bench.context(runtime).frames(bench.fresh([]), DEFAULT_MAX_FRAMES)), bench.repeat)
    face_track = timed(
        lambda: VisionService(runtime).face_track(
            bench.fresh([]), DEFAULT_MAX_FRAMES, frames=lambda: iter(frames.items())
        ),
        bench.repeat,
    )
    return [
        (f"decode {DEFAULT_MAX_FRAMES} sampled frames", decode),
        (f"face track of {DEFAULT_MAX_FRAMES} frames (detect, mesh, embed)", face_track),
        ("best shot with its JPEG", timed(lambda: best_shot(track, frames), bench.repeat)),
        (f"gesture track ({gesture_frames} frames) and every check", timed(gesture_track, max(3, bench.repeat // 2))),
    ]


def passive_stages(bench: Bench, bundle: str, runtime: ModelRuntime) -> tuple[Rows, list[float]]:
    """The passive check's stages with `runtime`'s models, and the whole passive analysis."""
    ctx = bench.context(runtime)
    blank = bench.fresh(["video_selfie", "video_selfie_blank"])
    dict(ctx.frames(blank, DEFAULT_MAX_FRAMES))
    track = ctx.faces(blank, DEFAULT_MAX_FRAMES)
    timings = []
    timed(lambda: timings.append(assess(ctx, blank, track).timings_ms), bench.repeat)
    later = timings[2:] or timings  # the warm-up runs loaded the models
    rows = [
        (f"{bundle}: {label}", [t[key] for t in later])
        for key, label in (
            ("pad", "PAD models"),
            ("image", "image cues"),
            ("motion", "motion cues"),
            ("fusion", "fusion"),
        )
    ]
    whole = bench.analysis(runtime, ["video_selfie", "video_selfie_blank"], max(3, bench.repeat // 2))
    return [*rows, (f"{bundle}: QUALITY video_selfie_blank, nothing cached", whole)], whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=10)
    default_data = os.environ.get("APPLIANCE_TEST_DATA") or str(REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    cv2.setNumThreads(1)
    video = args.data / "bench" / "selfie720p_1mbps.mp4"
    if not video.is_file():
        sys.exit(f"quality_stages: {video} not found (set --data or APPLIANCE_TEST_DATA)")

    with tempfile.TemporaryDirectory(prefix="appliance-quality-") as tmp:
        bundles: dict[str, Callable[[Path, Path], None]] = {
            "MiniFASNet bundle": minifasnet_bundle,
            "liveness bundle": liveness_bundle,
        }
        runtimes = {}
        for name, install in bundles.items():
            root = default_models(Path(tmp) / name.replace(" ", "-"))
            install(args.data, root)
            runtimes[name] = ModelRuntime(ModelStore(root), threads=1)
        bench = Bench(media_input(video, []), msgspec.structs.asdict(Thresholds()), args.repeat)
        print(f"{video.name}; one thread; {args.repeat} runs\n")
        rows = common_stages(bench, runtimes["liveness bundle"])
        wholes = {}
        for bundle, runtime in runtimes.items():
            passive_rows, wholes[bundle] = passive_stages(bench, bundle, runtime)
            rows += passive_rows
        blink = bench.analysis(
            runtimes["liveness bundle"], ["video_selfie", "video_selfie_eyes"], max(3, args.repeat // 2)
        )
        rows.append(("liveness bundle: QUALITY video_selfie_eyes, nothing cached", blink))

        print(f"{'stage':<66} {'p50 ms':>9} {'p95 ms':>9}")
        for name, samples in rows:
            print(f"{name:<66} {np.percentile(samples, 50):>9.1f} {np.percentile(samples, 95):>9.1f}")
        before, after = (float(np.percentile(wholes[b], 50)) for b in runtimes)
        print(f"\npassive QUALITY, liveness bundle / MiniFASNet bundle (p50): {after / before:.2f}x")


if __name__ == "__main__":
    main()
