"""Milliseconds per stage of the face pipeline on ONE thread, for a photo and a 5-second 720p video.

Stages: decode (one image, or the DEFAULT_MAX_FRAMES frames a video's track samples, decoded as
the track decodes them), detect (BlazeFace full range, per frame), landmarks (FaceMesh, per frame), align (dlib 5-point
shape and the 150 px chip), embed (dlib ResNet on the chip), and the whole BIOMETRY analysis of
the video against the photo with nothing cached (both face tracks computed, then compared).
Prints p50 and p95 over the repetitions, and each stage's share of the whole.

Media: the standard mix's (bench/apm.py): the benchmark clip (shared data
bench/selfie720p_1mbps.mp4) and the ID photo (documents/passport-td3.jpg) when the shared data is
present; elsewhere a 720p clip and a photo made from scikit-image's astronaut.

    .venv/bin/python bench/stages.py [--repeat 20]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy, OpenCV and dlib load

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import msgspec
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from appliance.domain.enums import MediaKind  # noqa: E402
from appliance.media.decode import iter_frames_rgb, load_image_rgb  # noqa: E402
from appliance.ops.settings import Thresholds  # noqa: E402
from appliance.runtime import ModelRuntime, ModelStore  # noqa: E402
from appliance.runtime.defaults import install_default_models  # noqa: E402
from appliance.sdk import DEFAULT_MAX_FRAMES, AnalysisContext  # noqa: E402
from appliance.sdk.requests import build_request  # noqa: E402
from appliance.sdk.testing import media_input, spec_from_plugin  # noqa: E402
from appliance.vision import VisionService  # noqa: E402
from appliance.vision.detector import detect_faces  # noqa: E402
from appliance.vision.embedding import embedder_for  # noqa: E402
from appliance.vision.landmarks import face_landmarks  # noqa: E402

FRAMES_PER_VIDEO = DEFAULT_MAX_FRAMES


def timed(call: Callable[[], object], repeat: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def media(tmp: Path) -> tuple[Path, Path]:
    data = Path(os.environ.get("APPLIANCE_TEST_DATA") or REPO_ROOT.parent / "shared" / "data")
    video, photo = data / "bench" / "selfie720p_1mbps.mp4", data / "documents" / "passport-td3.jpg"
    if video.is_file() and photo.is_file():
        return photo, video
    from skimage import data as skdata

    rgb = skdata.astronaut()
    photo = tmp / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    video = tmp / "astronaut720p.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 30, (720, 1280))
    for i in range(150):
        canvas = np.full((1280, 720, 3), 90, np.uint8)
        side = 420 + i  # the face grows slowly, as a hand brings the phone closer
        face = cv2.resize(rgb, (side, side))
        top, left = 300, (720 - side) // 2
        canvas[top : top + side, max(left, 0) : max(left, 0) + min(side, 720)] = face[
            :, max(-left, 0) : max(-left, 0) + 720
        ]
        writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))
    writer.release()
    return photo, video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    cv2.setNumThreads(1)

    with tempfile.TemporaryDirectory(prefix="appliance-stages-") as tmp_name:
        tmp = Path(tmp_name)
        photo, video = media(tmp)
        store = ModelStore(tmp / "models")
        install_default_models(store)
        runtime = ModelRuntime(store, threads=1)
        detector, landmarker, embedder = runtime.get("blazeface-full"), runtime.get("facemesh"), embedder_for(runtime)

        photo_rgb = load_image_rgb(photo)
        frames = [rgb for _, rgb in iter_frames_rgb(video, MediaKind.VIDEO, FRAMES_PER_VIDEO)]
        print(
            f"photo {photo.name} {photo_rgb.shape[1]}x{photo_rgb.shape[0]}; video {video.name} "
            f"{frames[0].shape[1]}x{frames[0].shape[0]}, {FRAMES_PER_VIDEO} frames kept; "
            f"one thread, {args.repeat} runs\n"
        )

        rows: list[tuple[str, list[float]]] = []
        for label, decode, images in (
            ("photo", lambda: load_image_rgb(photo), [photo_rgb]),
            ("video", lambda: list(iter_frames_rgb(video, MediaKind.VIDEO, FRAMES_PER_VIDEO)), frames),
        ):
            faces = [detect_faces(detector, rgb)[0] for rgb in images]
            per_frame = len(images)
            rows.append((f"{label}: decode", timed(decode, max(3, args.repeat // 4))))
            rows.append(
                (
                    f"{label}: detect x{per_frame}",
                    timed(lambda: [detect_faces(detector, i) for i in images], args.repeat),
                )
            )
            rows.append(
                (
                    f"{label}: landmarks x{per_frame}",
                    timed(
                        lambda: [face_landmarks(landmarker, i, f) for i, f in zip(images, faces, strict=True)],
                        args.repeat,
                    ),
                )
            )
            rows.append((f"{label}: align (best face)", timed(lambda: embedder.chip(images[0], faces[0]), args.repeat)))
            chip = embedder.chip(images[0], faces[0])
            rows.append((f"{label}: embed (best face)", timed(lambda: embedder.vector(chip), max(5, args.repeat // 2))))

        import appliance_plugin_biometry

        spec = spec_from_plugin(appliance_plugin_biometry, "BIOMETRY")
        # probed once, as the appliance does at upload; the analysis starts from stored media
        inputs = [media_input(video, ["video_selfie"]), media_input(photo, ["photo_id_front"])]
        thresholds = msgspec.structs.asdict(Thresholds())

        def whole() -> None:
            request = build_request(spec, analysis_id="bench", params=None, media=inputs, thresholds=thresholds)
            # a new VisionService each run: no face track is cached, the loaded models are kept
            spec.analyzer.analyze(request, AnalysisContext(thresholds, vision=VisionService(runtime)))

        rows.append(("BIOMETRY video vs photo, nothing cached", timed(whole, max(3, args.repeat // 4), warmup=1)))

        print(f"{'stage':<42} {'p50 ms':>9} {'p95 ms':>9}")
        for name, samples in rows:
            print(f"{name:<42} {np.percentile(samples, 50):>9.1f} {np.percentile(samples, 95):>9.1f}")


if __name__ == "__main__":
    main()
