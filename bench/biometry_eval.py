"""Face matching accuracy on the labelled faces of the shared data, against dlib's reference pipeline.

Genuine pairs are two images of one identity folder, impostor pairs two images of different
folders (folders starting with `_` are left out). Two pipelines run in the same process on the
same pairs:

- appliance: the appliance's own face track (BlazeFace full range, dlib 5-point alignment,
  dlib ResNet), exactly what BIOMETRY uses;
- reference: dlib's pipeline as the face_recognition library runs it (HOG detector with one
  upsampling, 5-point shape predictor, the same ResNet, no jitter).

For each: FNMR at FMR 1e-2 and 1e-3 with the L2 threshold that gives it, the EER with its
threshold interval, the largest genuine and the smallest impostor distance and their gap, and
the images where no face was found (counted as non-matches).

    .venv/bin/python bench/biometry_eval.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

Embedder = Callable[[Path], "np.ndarray | None"]


@dataclass(frozen=True)
class Figures:
    genuine: np.ndarray
    impostor: np.ndarray
    no_face: int

    def fnmr_at_fmr(self, max_fmr: float) -> tuple[float, float]:
        """(FNMR, threshold) at the largest threshold whose FMR is at most `max_fmr`. A pair matches if d < t."""
        allowed = int(np.floor(max_fmr * len(self.impostor)))
        impostor = np.sort(self.impostor)
        threshold = float(impostor[allowed]) if allowed < len(impostor) else float("inf")
        return float(np.mean(self.genuine >= threshold)), threshold

    def eer(self) -> tuple[float, float, float]:
        """(EER, lowest, highest threshold giving it), over the observed distances."""
        candidates = np.unique(np.concatenate([self.genuine, self.impostor, [np.inf]]))
        fmr = np.array([np.mean(self.impostor < t) for t in candidates])
        fnmr = np.array([np.mean(self.genuine >= t) for t in candidates])
        gap = np.abs(fmr - fnmr)
        best = np.flatnonzero(gap == gap.min())
        rate = float((fmr[best[0]] + fnmr[best[0]]) / 2)
        low = float(candidates[best[0] - 1]) if best[0] > 0 else 0.0
        return rate, low, float(candidates[best[-1]])


def labelled_images(data: Path) -> dict[Path, str]:
    faces = data / "faces"
    return {
        image: folder.name
        for folder in sorted(faces.iterdir())
        if folder.is_dir() and not folder.name.startswith("_")
        for image in sorted(folder.iterdir())
        if image.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp")
    }


def evaluate(images: dict[Path, str], embed: Embedder) -> Figures:
    vectors = {path: embed(path) for path in images}
    genuine, impostor = [], []
    for a, b in itertools.combinations(images, 2):
        va, vb = vectors[a], vectors[b]
        distance = float(np.linalg.norm(va - vb)) if va is not None and vb is not None else float("inf")
        (genuine if images[a] == images[b] else impostor).append(distance)
    return Figures(np.array(genuine), np.array(impostor), sum(v is None for v in vectors.values()))


def _model_file(package: str, name: str) -> str:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is not installed"
    return str(Path(next(iter(spec.submodule_search_locations))) / "models" / name)


def reference_embedder() -> Embedder:
    """dlib HOG (upsample 1) -> 5-point shape -> chip 150/0.25 -> ResNet, as face_recognition does."""
    import dlib

    from appliance.media.decode import load_image_rgb

    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(_model_file("face_recognition_models", "shape_predictor_5_face_landmarks.dat"))
    resnet = dlib.face_recognition_model_v1(
        _model_file("face_recognition_models", "dlib_face_recognition_resnet_model_v1.dat")
    )

    def embed(path: Path) -> np.ndarray | None:
        rgb = np.ascontiguousarray(load_image_rgb(path))
        boxes = detector(rgb, 1)
        if not boxes:
            return None
        box = max(boxes, key=lambda r: r.width() * r.height())
        return np.array(resnet.compute_face_descriptor(rgb, shapes(rgb, box), 0))

    return embed


def appliance_embedder(models_root: Path) -> Embedder:
    """The appliance's own face track: the embedding BIOMETRY compares."""
    from appliance.domain.enums import MediaKind
    from appliance.runtime import ModelRuntime, ModelStore
    from appliance.runtime.defaults import install_default_models
    from appliance.sdk.types import MediaInput
    from appliance.vision import VisionService

    store = ModelStore(models_root)
    install_default_models(store)
    vision = VisionService(ModelRuntime(store), cache_dir=None)

    def embed(path: Path) -> np.ndarray | None:
        media = MediaInput(media_id=path.stem, kind=MediaKind.IMAGE, tags=(), path=path, mime_type="image/jpeg")
        track = vision.face_track(media)
        return None if track.embedding is None else np.asarray(track.embedding.vector)

    return embed


def report(name: str, figures: Figures) -> None:
    fnmr2, t2 = figures.fnmr_at_fmr(1e-2)
    fnmr3, t3 = figures.fnmr_at_fmr(1e-3)
    eer, low, high = figures.eer()
    finite_genuine = figures.genuine[np.isfinite(figures.genuine)]
    worst_genuine, best_impostor = float(finite_genuine.max()), float(figures.impostor.min())
    print(
        f"{name:<10} {len(figures.genuine):>5}/{len(figures.impostor):<6} {figures.no_face:>7} "
        f"{fnmr2:>7.2%} @{t2:.3f} {fnmr3:>7.2%} @{t3:.3f} {eer:>6.2%} ({low:.3f}, {high:.3f}] "
        f"{worst_genuine:>9.3f} {best_impostor:>9.3f} {best_impostor - worst_genuine:>+7.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("APPLIANCE_TEST_DATA") or str(REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    args = parser.parse_args()
    images = labelled_images(args.data)
    identities = len(set(images.values()))
    print(f"{len(images)} images of {identities} identities from {args.data / 'faces'}\n")
    print(
        f"{'pipeline':<10} {'pairs gen/imp':>12} {'no face':>7} {'FNMR@FMR1e-2':>15} {'FNMR@FMR1e-3':>15} "
        f"{'EER (thresholds)':>24} {'max gen':>9} {'min imp':>9} {'gap':>7}"
    )
    with tempfile.TemporaryDirectory(prefix="appliance-models-") as models_root:
        for name, embedder in (
            ("appliance", appliance_embedder(Path(models_root))),
            ("reference", reference_embedder()),
        ):
            report(name, evaluate(images, embedder))


if __name__ == "__main__":
    main()
