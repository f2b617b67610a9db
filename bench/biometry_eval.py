"""Face matching accuracy and cost of every candidate embedding model, side by side, on the shared faces.

Genuine pairs are two photos of one identity folder, impostor pairs two photos of different folders
(folders starting with `_` are left out); photos are keyed by their full path. Pipelines, on the same
photos and pairs:

- `dlib`: the appliance's face track with dlib's ResNet (BlazeFace, dlib 5-point chip), today's default;
- `dlib-hog`: dlib's own pipeline as the face_recognition library runs it (HOG detector with one
  upsampling, 5-point shape, the same ResNet, no jitter): the reference;
- `omz-face-reid-0095`, `mobilefacenet-expo`: the models packaging/recipes/face_embedding.py builds
  from the published files in `<data>/models` (converted in the conversion Python; the first aligned
  on the five points of Open Model Zoo's landmarks model, which the recipe builds too, the second on
  five FaceMesh points), run by the appliance's face pipeline on the same detections and landmarks;
- `fusion`: the two recipe models' unit vectors side by side (score fusion by concatenation).

Each figure is taken on two sets of pairs, the same pairs for every model:

- every photo, each embedded whatever the size of its face;
- the photos BIOMETRY compares: a photo whose face the appliance refuses to compare (FACE_TOO_SMALL:
  narrower than the face track's `min_face_px`, or none found) is a failure to acquire, reported
  with its count, and its pairs are not compared, as a BIOMETRY analysis would decline them.

For each, the thresholds are **fitted on some photos and scored on others**, never on the same pairs:

- by identity: the identities are split in two halves at random, the threshold at the target FMR is
  fitted on the pairs within one half and scored on the pairs within the other, both ways, over
  `--repeats` random splits; the counts are pooled;
- by source (the repository a photo comes from, manifest.csv): each source in turn is scored with
  the threshold fitted on the pairs of the other sources.

Reported: FNMR and the FMR reached at target FMR 1e-2, 1e-3 and 1e-4, with 95 % Clopper-Pearson
bounds; the same thresholds fitted on all pairs and scored on them (`dev`, a contrast only); the EER;
the margin (smallest impostor distance minus largest genuine distance: positive when one threshold
separates every pair); per source (the lookalike groups: one TV cast, LFW's politicians, ...) the
margin among its own pairs; the 10 closest impostor pairs; the photos without a face; milliseconds
per face of the embedding (alignment and model, median and p95 over the photos, one thread, this
process pinned to one core), and its ratio to dlib's in the same run.

    .venv/bin/python bench/biometry_eval.py [--data ../shared/data] [--repeats 10]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import beta

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.recipes import OMZ_EMBEDDING_FILES, load_recipe  # noqa: E402

TARGETS = (1e-2, 1e-3, 1e-4)
MODEL_FILES = (*OMZ_EMBEDDING_FILES, "expo_MobileFaceNet.tflite")

recipe = load_recipe("face_embedding")


@dataclass
class Pipeline:
    """One embedding pipeline's vectors (None: no face) and milliseconds per face."""

    name: str
    vectors: dict[Path, np.ndarray | None] = field(default_factory=dict)
    milliseconds: list[float] = field(default_factory=list)


def labelled_images(data: Path) -> dict[Path, str]:
    return recipe.labelled_faces(data / "faces")


def sources(data: Path, images: Iterable[Path]) -> dict[Path, str]:
    """The repository each photo comes from, from manifest.csv (`unknown` where it is not listed)."""
    with (data / "manifest.csv").open(newline="") as fh:
        listed = {row["file"]: row["repository"] for row in csv.DictReader(fh)}
    return {path: listed.get(path.relative_to(data).as_posix(), "unknown") for path in images}


# Figures ----------------------------------------------------------------------------------------


def clopper_pearson(errors: int, trials: int) -> tuple[float, float]:
    """95 % two-sided bounds of a rate observed as `errors` of `trials`."""
    if trials == 0:
        return 0.0, 1.0
    low = 0.0 if errors == 0 else float(beta.ppf(0.025, errors, trials - errors + 1))
    high = 1.0 if errors == trials else float(beta.ppf(0.975, errors + 1, trials - errors))
    return low, high


@dataclass
class Counts:
    """Errors and trials, pooled over the folds of a split."""

    false_non_matches: int = 0
    genuine: int = 0
    false_matches: int = 0
    impostor: int = 0

    def add(self, threshold: float, genuine: np.ndarray, impostor: np.ndarray) -> None:
        self.false_non_matches += int(np.sum(genuine >= threshold))
        self.genuine += len(genuine)
        self.false_matches += int(np.sum(impostor < threshold))
        self.impostor += len(impostor)

    def cell(self) -> str:
        fnmr = self.false_non_matches / max(self.genuine, 1)
        low, high = clopper_pearson(self.false_non_matches, self.genuine)
        fmr = self.false_matches / max(self.impostor, 1)
        return f"{fnmr:6.2%} [{low:.2%}, {high:.2%}] FMR {fmr:.1e}"


class Pairs:
    """Every pair's distance, whether it is genuine, and its two photos."""

    def __init__(self, vectors: dict[Path, np.ndarray | None], people: dict[Path, str]) -> None:
        self.paths = sorted(people)
        self.people = people
        distances = recipe.distance_matrix([vectors.get(p) for p in self.paths])
        self.first, self.second = np.triu_indices(len(self.paths), 1)
        self.distance = distances[self.first, self.second]
        labels = np.array([people[p] for p in self.paths])
        self.genuine = labels[self.first] == labels[self.second]

    def within(self, keep: np.ndarray) -> np.ndarray:
        """The pairs whose two photos are both kept (`keep`: one bool per photo)."""
        return keep[self.first] & keep[self.second]

    def split(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.distance[mask & self.genuine], self.distance[mask & ~self.genuine]


def fitted_and_scored(pairs: Pairs, folds: list[tuple[np.ndarray, np.ndarray]], target: float) -> Counts:
    counts = Counts()
    for fit, score in folds:
        _, impostor = pairs.split(fit)
        threshold = recipe.threshold_at_fmr(impostor, target)
        counts.add(threshold, *pairs.split(score))
    return counts


def identity_folds(pairs: Pairs, repeats: int) -> list[tuple[np.ndarray, np.ndarray]]:
    identities = sorted(set(pairs.people.values()))
    labels = np.array([pairs.people[p] for p in pairs.paths])
    folds = []
    for seed in range(repeats):
        chosen = set(np.random.default_rng(seed).permutation(identities)[: len(identities) // 2])
        half = np.isin(labels, sorted(chosen))
        a, b = pairs.within(half), pairs.within(~half)
        folds += [(a, b), (b, a)]
    return folds


def source_folds(pairs: Pairs, origin: dict[Path, str]) -> list[tuple[np.ndarray, np.ndarray]]:
    photos = np.array([origin[p] for p in pairs.paths])
    folds = []
    for source in sorted(set(photos)):
        inside = photos == source
        score = pairs.within(inside)
        if pairs.genuine[score].any():
            folds.append((pairs.within(~inside), score))
    return folds


def eer(genuine: np.ndarray, impostor: np.ndarray) -> float:
    candidates = np.unique(np.concatenate([genuine[np.isfinite(genuine)], impostor[np.isfinite(impostor)]]))
    fmr = np.searchsorted(np.sort(impostor), candidates, side="left") / len(impostor)
    fnmr = 1 - np.searchsorted(np.sort(genuine), candidates, side="left") / len(genuine)
    best = int(np.argmin(np.abs(fmr - fnmr)))
    return float((fmr[best] + fnmr[best]) / 2)


def margin(genuine: np.ndarray, impostor: np.ndarray) -> float:
    finite = genuine[np.isfinite(genuine)]
    return float(impostor.min() - finite.max()) if len(finite) and len(impostor) else float("nan")


# Pipelines --------------------------------------------------------------------------------------


def appliance_pipelines(images: dict[Path, str], data: Path, workdir: Path) -> tuple[list[Pipeline], set[Path]]:
    """dlib and the recipe's models, through the appliance's face pipeline on one set of tracks, and
    the photos whose face the appliance refuses to compare (the same for every model: the track's)."""
    from appliance.domain.enums import MediaKind
    from appliance.media.decode import load_image_rgb
    from appliance.runtime import ModelRuntime, ModelStore
    from appliance.runtime.defaults import install_default_models
    from appliance.sdk.types import MediaInput
    from appliance.vision import VisionService, embedder_for

    store = ModelStore(workdir / "store")
    install_default_models(store)
    files = [data / "models" / name for name in MODEL_FILES]
    names = []
    if all(f.is_file() for f in files):
        try:
            calibrated = recipe.prepare(files, data / "faces", workdir / "recipe")
        except ValueError as exc:
            print(f"the recipe's models are left out: {exc}\n")
        else:
            recipe.install(calibrated, store.root)
            names = [c.card.name for c in calibrated if c.card.task == "face_embedding"]
    runtime = ModelRuntime(store)
    vision = VisionService(runtime, cache_dir=None, embedder="dlib-resnet")
    embedders = {name: embedder_for(runtime, name) for name in ["dlib-resnet", *names]}
    pipelines = {name: Pipeline("dlib" if name == "dlib-resnet" else name) for name in embedders}
    warm_up(vision, embedders.values(), next(iter(images)))
    refused: set[Path] = set()
    for path in images:
        media = MediaInput(media_id=str(path), kind=MediaKind.IMAGE, tags=(), path=path, mime_type="image/jpeg")
        track = vision.face_track(media)
        vision.forget(str(path))
        if not track.comparable:
            refused.add(path)
        rgb = load_image_rgb(path)
        for name, embedder in embedders.items():
            if track.face is None:
                pipelines[name].vectors[path] = None
                continue
            started = time.perf_counter()
            embedding = embedder.embed(rgb, track.face, track.landmarks)
            pipelines[name].milliseconds.append((time.perf_counter() - started) * 1000)
            pipelines[name].vectors[path] = np.asarray(embedding.vector)
    found = list(pipelines.values())
    if len(names) == 2:
        found.append(fusion(pipelines[names[0]], pipelines[names[1]]))
    return found, refused


def warm_up(vision: Any, embedders: Iterable[Any], photo: Path) -> None:
    """Run each embedder a few times first, so that no timing holds a model's first, slower calls."""
    from appliance.domain.enums import MediaKind
    from appliance.media.decode import load_image_rgb
    from appliance.sdk.types import MediaInput

    track = vision.face_track(MediaInput(media_id="warm-up", kind=MediaKind.IMAGE, tags=(), path=photo, mime_type=""))
    rgb = load_image_rgb(photo)
    for embedder in embedders:
        for _ in range(3):
            embedder.embed(rgb, track.face, track.landmarks)


def fusion(a: Pipeline, b: Pipeline) -> Pipeline:
    """The two pipelines' unit vectors side by side, scaled so that the whole is a unit vector."""
    fused = Pipeline("fusion", milliseconds=[x + y for x, y in zip(a.milliseconds, b.milliseconds, strict=True)])
    for path, va in a.vectors.items():
        vb = b.vectors[path]
        fused.vectors[path] = None if va is None or vb is None else np.concatenate([va, vb]) / np.sqrt(2)
    return fused


def reference_pipeline(images: dict[Path, str]) -> Pipeline:
    """dlib HOG (upsample 1) -> 5-point shape -> chip 150/0.25 -> ResNet, as face_recognition does."""
    import dlib

    from appliance.media.decode import load_image_rgb
    from appliance.runtime.defaults import DLIB_MODELS

    models = DLIB_MODELS.directory() / "models"
    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(str(models / "shape_predictor_5_face_landmarks.dat"))
    resnet = dlib.face_recognition_model_v1(str(models / "dlib_face_recognition_resnet_model_v1.dat"))
    pipeline = Pipeline("dlib-hog")
    for path in images:
        rgb = np.ascontiguousarray(load_image_rgb(path))
        boxes = detector(rgb, 1)
        if not boxes:
            pipeline.vectors[path] = None
            continue
        box = max(boxes, key=lambda r: r.width() * r.height())
        started = time.perf_counter()
        vector = np.array(resnet.compute_face_descriptor(rgb, shapes(rgb, box), 0))
        pipeline.milliseconds.append((time.perf_counter() - started) * 1000)
        pipeline.vectors[path] = vector
    return pipeline


# Report -----------------------------------------------------------------------------------------


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n{title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


def report(
    pipelines: list[Pipeline], images: dict[Path, str], origin: dict[Path, str], repeats: int, refused: set[Path]
) -> None:
    all_pairs = {p.name: Pairs(p.vectors, images) for p in pipelines}
    first = next(iter(all_pairs.values()))
    compared = {path: person for path, person in images.items() if path not in refused}
    kept = first.within(np.array([path not in refused for path in first.paths]))
    names = ", ".join(sorted(path.relative_to(path.parents[1]).as_posix() for path in refused)) or "none"
    print(
        f"\nFailures to acquire (the appliance refuses to compare the face: too small, or none found): "
        f"{len(refused)} of {len(images)} photos, in {int(np.sum(first.genuine & ~kept))} of "
        f"{int(first.genuine.sum())} genuine pairs: {names}"
    )
    populations = {"every photo": images, "the photos BIOMETRY compares": compared}
    schemes: dict[str, Callable[[Pairs], list[tuple[np.ndarray, np.ndarray]]]] = {
        f"identities split in halves, {repeats} splits both ways": lambda pairs: identity_folds(pairs, repeats),
        "leave one source out": lambda pairs: source_folds(pairs, origin),
        "dev (fitted and scored on all pairs: a contrast only)": lambda pairs: [(np.ones_like(pairs.genuine),) * 2],
    }
    header = ["model", *(f"FNMR [95 % bounds] at FMR {t:g}" for t in TARGETS)]
    for population, people in populations.items():
        population_pairs = {p.name: Pairs(p.vectors, people) for p in pipelines}
        for scheme, folds_of in schemes.items():
            rows = []
            for name, pairs in population_pairs.items():
                folds = folds_of(pairs)
                rows.append([name, *(fitted_and_scored(pairs, folds, t).cell() for t in TARGETS)])
            table(f"{population[0].upper()}{population[1:]}, thresholds fitted and scored: {scheme}", header, rows)

    dlib_ms = np.median(next(p for p in pipelines if p.name == "dlib").milliseconds)
    rows = []
    for pipeline in pipelines:
        pairs = all_pairs[pipeline.name]
        genuine, impostor = pairs.distance[pairs.genuine], pairs.distance[~pairs.genuine]
        ms = np.asarray(pipeline.milliseconds)
        no_face = sum(v is None for v in pipeline.vectors.values())
        rows.append(
            [
                pipeline.name,
                str(no_face),
                f"{eer(genuine, impostor):.2%}",
                f"{margin(genuine, impostor):+.3f}",
                f"{np.median(ms):.1f} / {np.percentile(ms, 95):.1f}",
                f"{np.median(ms) / dlib_ms:.2f}",
            ]
        )
    table(
        f"{len(images)} photos of {len(set(images.values()))} identities: {int(first.genuine.sum())} genuine and "
        f"{int((~first.genuine).sum())} impostor pairs",
        ["model", "no face", "EER", "margin", "ms per face p50 / p95", "x dlib"],
        rows,
    )

    groups = sorted(set(origin.values()))
    rows = []
    photos = {name: np.array([origin[p] for p in pairs.paths]) for name, pairs in all_pairs.items()}
    for group in groups:
        cells = []
        for name, pairs in all_pairs.items():
            inside = pairs.within(photos[name] == group)
            genuine, impostor = pairs.split(inside)
            cells.append(f"{margin(genuine, impostor):+.3f}" if len(genuine) and len(impostor) else "-")
        count = int(np.sum(np.array([origin[p] for p in first.paths]) == group))
        rows.append([f"{group} ({count} photos)", *cells])
    table("Margin within each source (lookalike groups)", ["source", *all_pairs], rows)

    for name, pairs in all_pairs.items():
        order = np.argsort(np.where(pairs.genuine, np.inf, pairs.distance))[:10]
        rows = [
            [
                f"{pairs.distance[i]:.3f}",
                pairs.paths[pairs.first[i]].relative_to(pairs.paths[0].parents[1]).as_posix(),
                pairs.paths[pairs.second[i]].relative_to(pairs.paths[0].parents[1]).as_posix(),
            ]
            for i in order
        ]
        table(f"{name}: the 10 closest impostor pairs", ["distance", "photo", "photo"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("APPLIANCE_TEST_DATA") or str(REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--repeats", type=int, default=10, help="random identity splits (each scored both ways)")
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)), help="the core to run on")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})
    images = labelled_images(args.data)
    origin = sources(args.data, images)
    print(f"{len(images)} photos of {len(set(images.values()))} identities from {len(set(origin.values()))} sources")
    with tempfile.TemporaryDirectory(prefix="biometry-eval-") as workdir:
        pipelines, refused = appliance_pipelines(images, args.data, Path(workdir))
    pipelines.insert(1, reference_pipeline(images))
    report(pipelines, images, origin, args.repeats, refused)


if __name__ == "__main__":
    main()
