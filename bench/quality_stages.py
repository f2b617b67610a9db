"""Milliseconds per stage of the QUALITY analysis of a 5-second 720p video, on ONE thread.

Stages, each timed on its own with nothing cached: decode (the default track's sampled frames, `DEFAULT_MAX_FRAMES`),
the face track of those frames (detector, FaceMesh, one embedding), the PAD slot (the
MiniFASNet bundle: Silent-Face's pair, installed by packaging/recipes/minifasnet.py when its
PyTorch (scripts/setup-convert) and the weights are there; otherwise skipped and said so), the
static and motion signals, the gesture track (about 15 frames per second, what a gesture tag asks
for) with every gesture check, the best shot with its JPEG, and the whole analysis for a passive
selfie (`video_selfie_blank`) and for a blink selfie (`video_selfie_eyes`). Prints p50 and p95.

Media: the standard benchmark clip (shared data bench/selfie720p_1mbps.mp4).

    .venv/bin/python bench/quality_stages.py [--repeat 10] [--data ../shared/data]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy, OpenCV and the runtimes load

import argparse
import dataclasses
import importlib.util
import sys
import tempfile
import uuid
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
from appliance.runtime import ModelRuntime, ModelStore  # noqa: E402
from appliance.sdk import DEFAULT_MAX_FRAMES, AnalysisContext  # noqa: E402
from appliance.sdk.requests import build_request  # noqa: E402
from appliance.sdk.testing import default_models, media_input, spec_from_plugin  # noqa: E402
from appliance.vision import VisionService  # noqa: E402

SILENT_FACE = ("silentface_2.7_80x80_MiniFASNetV2.pth", "silentface_4_0_0_80x80_MiniFASNetV1SE.pth")


def install_pad_models(data: Path, store: Path) -> bool:
    spec = importlib.util.spec_from_file_location(
        "minifasnet_recipe", REPO_ROOT / "packaging" / "recipes" / "minifasnet.py"
    )
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    weights = [data / "models" / name for name in SILENT_FACE]
    if not all(w.is_file() for w in weights):
        return False
    return recipe.main([*(a for w in weights for a in ("--pth", str(w))), "--store", str(store), "--activate"]) == 0


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
        root = default_models(Path(tmp) / "models")
        pad_installed = install_pad_models(args.data, root)
        runtime = ModelRuntime(ModelStore(root), threads=1)
        thresholds = msgspec.structs.asdict(Thresholds())

        def context() -> AnalysisContext:  # a new vision service: no track cached, models kept loaded
            return AnalysisContext(thresholds, vision=VisionService(runtime))

        probed = media_input(video, [])  # probed once, as the appliance does at upload

        def fresh(tags: list[str]):  # a new media id: nothing cached under it
            return dataclasses.replace(probed, media_id=str(uuid.uuid4()), tags=tuple(tags))

        blank = fresh(["video_selfie", "video_selfie_blank"])
        gesture_tags = sorted(tag for tag, g in GESTURE_TAGS.items() if g != "blank")
        gesture_frames = gesture_sampling(fresh(gesture_tags))
        print(
            f"{video.name}; one thread; {args.repeat} runs; PAD models: "
            f"{'Silent-Face pair' if pad_installed else 'none (recipe or weights unavailable)'}; "
            f"gesture track {gesture_frames} frames\n"
        )

        ctx = context()
        default_frames = dict(ctx.frames(blank, DEFAULT_MAX_FRAMES))
        default_track = ctx.faces(blank, DEFAULT_MAX_FRAMES)
        passives = []
        rows: list[tuple[str, list[float]]] = [
            (
                f"decode {DEFAULT_MAX_FRAMES} sampled frames",
                timed(lambda: dict(context().frames(fresh([]), DEFAULT_MAX_FRAMES)), args.repeat),
            ),
            (
                f"face track of {DEFAULT_MAX_FRAMES} frames (detect, mesh, embed)",
                timed(
                    lambda: VisionService(runtime).face_track(
                        fresh([]), DEFAULT_MAX_FRAMES, frames=lambda: iter(default_frames.items())
                    ),
                    args.repeat,
                ),
            ),
        ]

        def passive() -> None:
            passives.append(assess(ctx, blank, default_track, use_models=True).timings_ms)

        timed(passive, args.repeat)
        for key, label in (
            ("pad", "PAD slot (8 crops per model, one batch)"),
            ("static", "static signals"),
            ("motion", "motion signals"),
        ):
            rows.append((label, [t[key] for t in passives[1:]] or [passives[0][key]]))
        rows.append(("best shot with its JPEG", timed(lambda: best_shot(default_track, default_frames), args.repeat)))

        def gesture_track() -> None:
            c, media = context(), fresh(gesture_tags)
            dict(c.frames(media, gesture_frames))
            track = c.faces(media, gesture_frames, eyes=True)
            check_gestures(gesture_tags, track, media.kind)

        rows.append(
            (f"gesture track ({gesture_frames} frames) and every check", timed(gesture_track, max(3, args.repeat // 2)))
        )

        spec = spec_from_plugin(appliance_plugin_quality, "QUALITY")
        for tags in (["video_selfie", "video_selfie_blank"], ["video_selfie", "video_selfie_eyes"]):

            def whole(tags: list[str] = tags) -> None:
                request = build_request(
                    spec, analysis_id="bench", params=None, media=[fresh(tags)], thresholds=thresholds
                )
                spec.analyzer.analyze(request, context())

            rows.append((f"QUALITY {tags[-1]}, nothing cached", timed(whole, max(3, args.repeat // 2))))

        print(f"{'stage':<58} {'p50 ms':>9} {'p95 ms':>9}")
        for name, samples in rows:
            print(f"{name:<58} {np.percentile(samples, 50):>9.1f} {np.percentile(samples, 95):>9.1f}")


if __name__ == "__main__":
    main()
