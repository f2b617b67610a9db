"""Candidate PAD cues, each scored leave-one-source-out against the liveness recipe's fusion.

    .venv/bin/python bench/pad_cue_trials.py [--data ../shared/data] [--models DATA/models] --cache DIR

Every media of the manifest (as bench/pad_eval.py reads it) is measured once, with the QUALITY
plugin's own code (its cues, on its face track), plus the material of each candidate; the
measurements are kept in DIR (`trials.json`) and reused. Then, for the baseline (the recipe's cues)
and for each candidate, the recipe's whole procedure runs leave-one-source-out on the same folds:
cues chosen by `choose_features`, fusion fitted by `fit_fusion` with its operating point, its live
envelope drawn by `choose_envelope` (the recipe's `fit_liveness`), all on the other sources only,
then the left-out source scored. A candidate whose material is a long
vector (an LBP histogram, a set of image-distortion features) is reduced to a few cues by a model
fitted in the fold, never on the left-out source:

* `pca`: the first three principal components of the standardised vector, fitted on the fold's
  training media;
* `score`: a logistic regression (the recipe's `fit_fusion` on the first ten principal components),
  one cue. The training media's values are cross-fitted (each training source scored by a model
  fitted on the other training sources), so the fusion is not fitted on scores of media the model
  was fitted on; the left-out source is scored by the model fitted on every training source. (The
  recipe's cue choice, inside the fold, sees those cross-fitted values: a training source it holds
  out there helped fit the other training sources' scores. The left-out source never does.)

The candidates:

1. `tight:<variant>`: the Silent-Face pair on a face whose frame lacks the surroundings their crop
   needs (today: no cue), judged on the largest region the frame holds (`largest`, the box's own
   shape), or on a square crop of the full scale padded by reflection (`reflect`) or replication
   (`replicate`); the value either fills the pair's own cue (`merged`) or is a cue of its own
   (`apart`, present only where the pair abstains).
2. `lbp`: uniform LBP histograms (8 neighbours, radius 1, 59 bins) of the face at 64 px in H, S, V,
   Y, Cr and Cb (Boulkenafet et al. 2016), reduced as above.
3. `emb:<model>`: each ONNX PAD model's embedding (the input of its last dense layer, the one its
   classifier reads), averaged over its own crops of up to 8 frames (the Silent-Face pair on a tight
   crop: the largest region the frame holds), reduced as above.
4. `ida`: image-distortion features (Wen et al. 2015) of the face: specular share, mean and
   variance, two blur measures (Crete et al. 2007), HSV chromatic moments with the shares of the
   fullest and emptiest histogram bins, and colour diversity; reduced as above.

It prints, for each: BPCER, APCER per attack type with its 95 % upper bound, ACER (bench/pad_eval.py's
rules, one operating point: the fusion's 0.5), how often the recipe chose each cue, the sources whose
errors moved against the baseline; then a per-source table of live media rejected and attacks
accepted, and a DET reading. `--only NAME ...` scores the baseline and those candidates only (each
takes a few minutes: the recipe's cue choice runs in each of the 17 folds). The embeddings need the
conversion Python (scripts/setup-convert: `onnx` adds the embedding as an output of each graph).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pad_eval
from appliance_plugin_quality.forensics import MEASURE_SIDE
from pad_eval import Rates, Scored, recipe
from skimage.feature import local_binary_pattern

#: The Silent-Face pair, whose cards have `min_context`: a tight face crop gets no cue from them.
PAIR = pad_eval.PAIR
#: How a face without enough surroundings is cropped for the pair, as card params over its own.
TIGHT_VARIANTS: dict[str, dict[str, Any]] = {
    "largest": {},
    "reflect": {"crop": "square", "border": "reflect_101"},
    "replicate": {"crop": "square", "border": "replicate"},
}
#: Run in the conversion Python (it has `onnx`): the graph of argv[1] with a second output, the input
#: of its last dense layer (the embedding its classifier reads), written to argv[2].
EMBEDDING_GRAPH = """
import sys, onnx
from onnx import TensorProto, helper
model = onnx.load(sys.argv[1])
last = [n for n in model.graph.node if n.op_type in ("Gemm", "MatMul")][-1]
model.graph.output.append(helper.make_tensor_value_info(last.input[0], TensorProto.FLOAT, None))
onnx.save(model, sys.argv[2])
"""
LBP_SIDE = 64
LBP_BINS = 59
#: Principal components kept as cues (`pca`), and fed to the fold's regression (`score`).
PCA_CUES = 3
PCA_SCORE = 10

# Material -----------------------------------------------------------------------------------------


def _face(rgb: np.ndarray, box: Sequence[float], side: int) -> np.ndarray | None:
    """The face box's square (its longer side), cut at the frame's edges, resized to `side` (RGB uint8)."""
    x0, y0, x1, y1 = (float(v) for v in box)
    half = max(x1 - x0, y1 - y0) / 2
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    height, width = rgb.shape[:2]
    left, top = max(round(cx - half), 0), max(round(cy - half), 0)
    right, bottom = min(round(cx + half), width), min(round(cy + half), height)
    if min(right - left, bottom - top) < 16:
        return None
    crop = np.ascontiguousarray(rgb[top:bottom, left:right])
    interpolation = cv2.INTER_AREA if max(crop.shape[:2]) > side else cv2.INTER_LINEAR
    return cv2.resize(crop, (side, side), interpolation=interpolation)


def lbp_histograms(face: np.ndarray) -> np.ndarray:
    """Uniform LBP (8, 1) histograms of H, S, V, Y, Cr, Cb, each normalised: 6 x 59 values."""
    face = cv2.resize(face, (LBP_SIDE, LBP_SIDE), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(face, cv2.COLOR_RGB2HSV)
    ycc = cv2.cvtColor(face, cv2.COLOR_RGB2YCrCb)
    channels = [hsv[..., i] for i in range(3)] + [ycc[..., i] for i in range(3)]
    histograms = []
    for channel in channels:
        codes = local_binary_pattern(channel, 8, 1, method="nri_uniform").astype(np.int64)
        counts = np.bincount(codes.ravel(), minlength=LBP_BINS).astype(np.float64)
        histograms.append(counts / counts.sum())
    return np.concatenate(histograms)


def _crete_blur(gray: np.ndarray) -> tuple[float, float]:
    """Crete et al.'s no-reference blur (0 sharp, 1 blurred), vertical and horizontal."""
    values = []
    for axis, kernel in ((0, (1, 9)), (1, (9, 1))):
        blurred = cv2.blur(gray, kernel)
        sharp_diff = np.abs(np.diff(gray, axis=axis))
        blurred_diff = np.abs(np.diff(blurred, axis=axis))
        total = float(sharp_diff.sum()) + 1e-9
        values.append((total - float(np.maximum(sharp_diff - blurred_diff, 0).sum())) / total)
    return values[0], values[1]


def ida_features(face: np.ndarray) -> np.ndarray:
    """Wen et al.'s image-distortion features of the face (RGB uint8): specular (3), blur (2),
    chromatic moments (15), colour diversity (2)."""
    pixels = face.astype(np.float32)
    # the smallest channel is the achromatic, specular part of the dichromatic reflection model
    specular = pixels.min(axis=2)
    mean = float(specular.mean())
    mask = (specular > 1.5 * mean) & (specular < 4 * mean)
    spots = specular[mask] / 255.0
    features = [
        float(mask.mean()),
        float(spots.mean()) if spots.size else 0.0,
        float(spots.var()) if spots.size else 0.0,
    ]
    features += _crete_blur(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float32))
    hsv = cv2.cvtColor(face, cv2.COLOR_RGB2HSV_FULL).astype(np.float64) / 255.0
    for i in range(3):
        channel = hsv[..., i].ravel()
        sd = float(channel.std())
        skew = float(((channel - channel.mean()) ** 3).mean() / (sd**3 + 1e-12))
        counts = np.histogram(channel, bins=32, range=(0.0, 1.0))[0] / channel.size
        features += [float(channel.mean()), sd, skew, float(counts.min()), float(counts.max())]
    quantised = (face // 8).reshape(-1, 3).astype(np.int64)
    colours = np.bincount(quantised[:, 0] * 1024 + quantised[:, 1] * 32 + quantised[:, 2])
    colours = np.sort(colours[colours > 0])[::-1]
    features += [len(colours) / quantised.shape[0], float(colours[:100].sum()) / quantised.shape[0]]
    return np.asarray(features)


@dataclass(frozen=True, slots=True)
class Recropped:
    """A PAD model handle with other card params (the same network)."""

    handle: Any
    params: dict[str, Any]

    @property
    def name(self) -> str:
        return self.handle.name

    @property
    def version(self) -> str:
        return self.handle.version

    @property
    def sha256(self) -> str:
        return self.handle.sha256

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        return self.handle.run(inputs)


@dataclass(frozen=True, slots=True)
class EmbeddingModel:
    """A PAD model's graph with its embedding as a second output, and its card's params."""

    name: str
    session: Any
    params: dict[str, Any]

    def embedding(self, faces: Sequence[tuple[np.ndarray, Sequence[float]]]) -> list[float]:
        """The mean embedding over the model's own crop of each face (a face without the surroundings
        a Silent-Face crop needs: the largest region the frame holds)."""
        from appliance_plugin_quality.pad import crop_face, prepare

        crops = [crop_face(rgb, box, self.params) for rgb, box in faces]
        name = self.session.get_inputs()[0].name
        found = [self.session.run(None, {name: prepare([crop], self.params)})[1] for crop in crops]
        return np.concatenate(found).reshape(len(crops), -1).mean(axis=0).tolist()


def embedding_models(prepared: Sequence[Any], workdir: Path) -> list[EmbeddingModel]:
    """Every ONNX PAD model of `prepared` (the recipe's), with its embedding as a second output."""
    import subprocess

    import onnxruntime

    python = recipe.minifasnet._default_torch_python()
    out = []
    for item in prepared:
        if item.file.suffix != ".onnx":
            continue
        graph = workdir / f"{item.card.name}.embedding.onnx"
        subprocess.run([python, "-c", EMBEDDING_GRAPH, str(item.file), str(graph)], check=True)
        session = onnxruntime.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
        params = {k: v for k, v in item.card.params.items() if k != "min_context"}
        out.append(EmbeddingModel(item.card.name, session, params))
    return out


def _measure_one(
    ctx: Any, media: Any, pair: Sequence[Any], embedders: Sequence[EmbeddingModel]
) -> dict[str, Any] | None:
    from appliance_plugin_quality import fusion
    from appliance_plugin_quality.pad import run_pad

    from appliance.sdk import MediaKind

    track = ctx.faces(media)
    measured = fusion.measure(ctx, media, track)
    if measured is None:
        return None
    decoded = dict(ctx.frames(media, track.max_frames))
    with_face = [f for f in track.frames if f.face is not None and f.index in decoded]
    faces = [(decoded[f.index], f.face.box) for f in with_face]
    best = track.best_frame if track.best_frame is not None and track.best_frame.index in decoded else with_face[0]
    face = _face(decoded[best.index], best.face.box, MEASURE_SIDE)
    tight: dict[str, dict[str, float]] = {}
    for handle in pair:
        base = {k: v for k, v in handle.params.items() if k != "min_context"}
        for variant, params in TIGHT_VARIANTS.items():
            result = run_pad([Recropped(handle, {**base, **params})], faces, max_crops=fusion.PAD_FRAMES)
            odds = result.detectors[0].live_log_odds
            if odds is not None:
                tight.setdefault(handle.name, {})[variant] = -odds
    spread = [faces[i] for i in sorted(set(np.linspace(0, len(faces) - 1, fusion.PAD_FRAMES).round().astype(int)))]
    return {
        "embeddings": {e.name: e.embedding(spread) for e in embedders},
        "cues": {c.name: c.value for c in measured.cues},
        "video": media.kind is not MediaKind.IMAGE,
        "tight": tight,
        "lbp": None if face is None else lbp_histograms(face).tolist(),
        "ida": None if face is None else ida_features(face).tolist(),
    }


def measure(data: Path, models: Path, cache: Path) -> dict[str, dict[str, Any] | None]:
    """Each media's material (None: no face found), by manifest name; kept in `cache`."""
    samples = recipe.read_samples(data)
    if cache.is_file():
        saved = json.loads(cache.read_text())
        if set(saved) == {s.name for s in samples}:
            return saved
    from appliance.sdk import AnalysisContext
    from appliance.sdk.testing import default_models, media_input, vision_service

    out: dict[str, dict[str, Any] | None] = {}
    with tempfile.TemporaryDirectory(prefix="pad-trials-") as tmp:
        store = default_models(Path(tmp) / "models")
        prepared = recipe.prepare_pad_models(models, Path(tmp))
        recipe.install_pad_models(store, prepared)
        embedders = embedding_models(prepared, Path(tmp))
        vision = vision_service(store)
        for number, sample in enumerate(samples, 1):
            ctx = AnalysisContext({"liveness": 0.5}, vision=vision)
            pair = [m for m in ctx.models("presentation_attack") if m.name in PAIR]
            media = media_input(sample.path)
            out[sample.name] = _measure_one(ctx, media, pair, embedders)
            vision.forget(media.media_id)
            print(f"measured {number}/{len(samples)}", file=sys.stderr, flush=True)
    cache.write_text(json.dumps(out))
    return out


# Candidates -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Media:
    sample: Any
    cues: dict[str, float] | None
    video: bool
    material: dict[str, Any] | None


#: (the fold's training media, the left-out media) -> extra cues of each of them, by id(media).
FoldCues = Callable[[Sequence[Media], Sequence[Media]], dict[int, dict[str, float]]]


@dataclass(frozen=True, slots=True)
class Candidate:
    name: str
    #: The cues the fusion may choose from (the recipe's and the candidate's).
    features: tuple[str, ...]
    #: Cue values that replace or add to the measured ones, per fold.
    fold_cues: FoldCues | None = None


def tight_candidate(variant: str, merged: bool) -> Candidate:
    def cues(training: Sequence[Media], left_out: Sequence[Media]) -> dict[int, dict[str, float]]:
        out: dict[int, dict[str, float]] = {}
        for m in [*training, *left_out]:
            assert m.cues is not None and m.material is not None
            for model, values in m.material["tight"].items():
                cue = f"pad:{model}"
                if cue not in m.cues and variant in values:
                    out.setdefault(id(m), {})[cue if merged else f"{cue}:{variant}"] = values[variant]
        return out

    extra = () if merged else tuple(f"pad:{model}:{variant}" for model in PAIR)
    return Candidate(f"tight:{variant}:{'merged' if merged else 'apart'}", (*recipe.FEATURES, *extra), cues)


def _standardise(train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    centre, scale = train.mean(axis=0), train.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return centre, scale


def _pca(train: np.ndarray, components: int) -> Callable[[np.ndarray], np.ndarray]:
    """The projection on the first `components` principal axes of `train` (standardised)."""
    centre, scale = _standardise(train)
    _, _, vt = np.linalg.svd((train - centre) / scale, full_matrices=False)
    axes = vt[:components].T
    return lambda x: ((x - centre) / scale) @ axes


def _score_model(train: Sequence[Media], key: str) -> Callable[[np.ndarray], np.ndarray]:
    """The fold's regression on the first PCA_SCORE principal components of material `key`, fitted
    as the recipe fits the fusion (each source and class weighing the same, L2 1): attack logits."""
    x = np.array([m.material[key] for m in train])  # type: ignore[index]
    project = _pca(x, PCA_SCORE)
    names = [f"c{i}" for i in range(project(x[:1]).shape[1])]
    rows = [dict(zip(names, row, strict=True)) for row in project(x)]
    fit = recipe.fit_fusion(rows, [m.sample.is_attack for m in train], [m.sample.source for m in train], names)
    return lambda v: recipe.attack_logits(fit, [dict(zip(names, row, strict=True)) for row in project(v)])


def reduced_candidate(key: str, kind: str) -> Candidate:
    """The material `key` reduced in each fold: `pca` (PCA_CUES cues) or `score` (one cue)."""
    names = tuple(f"{key}:pc{i + 1}" for i in range(PCA_CUES)) if kind == "pca" else (f"{key}:score",)

    def cues(training: Sequence[Media], left_out: Sequence[Media]) -> dict[int, dict[str, float]]:
        train = [m for m in training if m.material and m.material[key] is not None]
        scored = [m for m in left_out if m.material and m.material[key] is not None]
        out: dict[int, dict[str, float]] = {}
        if kind == "pca":
            project = _pca(np.array([m.material[key] for m in train]), PCA_CUES)  # type: ignore[index]
            for m in [*train, *scored]:
                out[id(m)] = dict(zip(names, project(np.array([m.material[key]]))[0], strict=True))  # type: ignore[index]
            return out
        groups = [(scored, train)] + [
            ([m for m in train if m.sample.source == s], [m for m in train if m.sample.source != s])
            for s in sorted({m.sample.source for m in train})
        ]
        for targets, fitted_on in groups:  # the left-out source, then each training source cross-fitted
            if targets:
                values = _score_model(fitted_on, key)(np.array([m.material[key] for m in targets]))  # type: ignore[index]
                out.update({id(m): {names[0]: float(v)} for m, v in zip(targets, values, strict=True)})
        return out

    return Candidate(f"{key}:{kind}", (*recipe.FEATURES, *names), cues)


# Scoring ----------------------------------------------------------------------------------------


def _row(m: Media, extra: dict[int, dict[str, float]]) -> dict[str, float]:
    return {**(m.cues or {}), **extra.get(id(m), {})}


def loso(media: Sequence[Media], candidate: Candidate) -> tuple[list[Scored], dict[str, tuple[str, ...]]]:
    """The recipe's whole procedure (`fit_liveness`) leave-one-source-out with the candidate's cues:
    the scores and the cues chosen in each fold."""
    with_face = [m for m in media if m.cues is not None]
    fittable = [m for m in with_face if not m.sample.is_synthetic]
    logits: dict[int, float] = {}
    outside: set[int] = set()
    chosen: dict[str, tuple[str, ...]] = {}
    for source in sorted({m.sample.source for m in media}):
        training = [m for m in fittable if m.sample.source != source]
        left_out = [m for m in with_face if m.sample.source == source]
        if not left_out:
            continue
        extra = candidate.fold_cues(training, left_out) if candidate.fold_cues else {}
        rows, labels, sources = (
            [_row(m, extra) for m in training],
            [m.sample.label for m in training],
            [m.sample.source for m in training],
        )
        fitted = recipe.fit_liveness(rows, labels, sources, candidate.features)
        chosen[source] = fitted.fusion.features
        left_rows = [_row(m, extra) for m in left_out]
        values = recipe.attack_logits(fitted.fusion, left_rows)
        for m, value, past in zip(left_out, values, fitted.outside(left_rows), strict=True):
            logits[id(m)] = float(value) + (pad_eval._video_terms(m.cues) if m.video else 0.0)  # type: ignore[arg-type]
            if past:
                outside.add(id(m))
    scored = [
        Scored(m.sample.name, m.sample.source, m.sample.label, m.video, logits.get(id(m)), id(m) in outside)
        for m in media
    ]
    return scored, chosen


def _line(name: str, rates: Rates) -> list[str]:
    types = rates.attack_types()
    return [name, rates.cell("live"), *(rates.cell(t) for t in types), f"{rates.acer:.1%}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = Path(os.environ.get("APPLIANCE_TEST_DATA") or pad_eval.REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=default_data, help="a directory with a manifest.csv")
    parser.add_argument("--models", type=Path, help="the published model files (default: the data's models/)")
    parser.add_argument("--cache", type=Path, required=True, help="a directory to keep the measurements in")
    parser.add_argument("--only", nargs="*", help="score only these candidates (by name)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    material = measure(args.data, args.models or args.data / "models", args.cache / "trials.json")
    media = []
    for sample in recipe.read_samples(args.data):
        found = material[sample.name]
        if found is None:  # no face: counted as pad_eval counts it (live rejected, attack not accepted)
            media.append(Media(sample, None, False, None))
        else:
            vectors = {f"emb:{name}": vector for name, vector in found["embeddings"].items()}
            media.append(Media(sample, found["cues"], found["video"], {**found, **vectors}))
    candidates = [Candidate("baseline", recipe.FEATURES)]
    candidates += [tight_candidate(v, merged) for v in TIGHT_VARIANTS for merged in (True, False)]
    embedded = sorted({key for m in media if m.material for key in m.material if key.startswith("emb:")})
    keys = ("lbp", *embedded, "ida")
    candidates += [reduced_candidate(key, kind) for key in keys for kind in ("pca", "score")]
    if args.only:
        candidates = [c for c in candidates if c.name == "baseline" or c.name in args.only]
    results: dict[str, list[Scored]] = {}
    for candidate in candidates:
        scored, chosen = loso(media, candidate)
        results[candidate.name] = scored
        new = [f for f in candidate.features if f not in recipe.FEATURES]
        counts = {f: sum(f in used for used in chosen.values()) for f in (*new, *recipe.FEATURES)}
        rates = Rates.of(scored)
        print(f"{candidate.name}: {' | '.join(_line('', rates)[1:])}; chosen in {len(chosen)} folds: {counts}")
        if candidate.name != "baseline":
            print(f"  sources moved: {moved(results['baseline'], scored) or 'none'}", flush=True)
    print()
    types = Rates.of(results["baseline"]).attack_types()
    pad_eval._table(
        ["candidate", "BPCER", *(f"APCER {t}" for t in types), "ACER"],
        [_line(name, Rates.of(scored)) for name, scored in results.items()],
    )
    per_source(results)
    det(results)


def det(results: Mapping[str, Sequence[Scored]]) -> None:
    """BPCER / the worst APCER (types with at least 10 media) of each candidate, the threshold moved
    from the operating point (a reading of the curve, not an operating point: none is fitted here)."""
    print("### DET: BPCER / worst APCER, the threshold moved from the operating point (attack log-odds)\n")
    rows = []
    for offset in pad_eval.DET_OFFSETS:
        cells = []
        for items in results.values():
            rates = Rates.of(items, offset)
            worst = rates.worst()
            cells.append(f"{rates.bpcer:.1%} / {worst[1] if worst else 0.0:.1%}")
        rows.append([f"{offset:+.1f}", *cells])
    pad_eval._table(["threshold", *results], rows)


def _errors(items: Sequence[Scored], source: str) -> tuple[int, int]:
    """Live media rejected and attacks accepted of `source`."""
    chosen = [i for i in items if i.source == source and i.label not in pad_eval.SYNTHETIC]
    rejected = sum(pad_eval._wrong(i, 0.0) for i in chosen if i.label == "live")
    return rejected, sum(pad_eval._wrong(i, 0.0) for i in chosen if i.label != "live")


def moved(baseline: Sequence[Scored], candidate: Sequence[Scored]) -> str:
    """The sources whose errors changed: `source live rejected, attacks accepted (baseline -> candidate)`."""
    changes = []
    for source in sorted({i.source for i in baseline}):
        before, after = _errors(baseline, source), _errors(candidate, source)
        if before != after:
            changes.append(f"{source.split('/')[0]} live {before[0]}->{after[0]}, attacks {before[1]}->{after[1]}")
    return "; ".join(changes)


def per_source(results: Mapping[str, Sequence[Scored]]) -> None:
    """Live media rejected and attacks accepted per source (sources with an error in some candidate)."""
    print("### Per source: live rejected / attacks accepted\n")
    rows = []
    for source in sorted({i.source for items in results.values() for i in items}):
        cells, errors = [], 0
        for items in results.values():
            live = [i for i in items if i.source == source and i.label == "live"]
            attacks = [
                i for i in items if i.source == source and i.label != "live" and i.label not in pad_eval.SYNTHETIC
            ]
            rejected = sum(pad_eval._wrong(i, 0.0) for i in live)
            accepted = sum(pad_eval._wrong(i, 0.0) for i in attacks)
            errors += rejected + accepted
            cells.append(f"{rejected}/{len(live)} {accepted}/{len(attacks)}")
        if errors:
            rows.append([source, *cells])
    pad_eval._table(["source", *results], rows)


if __name__ == "__main__":
    main()
