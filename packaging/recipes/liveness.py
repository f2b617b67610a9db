"""Model recipe: the liveness bundle, every PAD model at hand and the fusion fitted on labelled media.

A vendor runs this on a machine with the published model files and a labelled set of live and attack
media (a directory with a `manifest.csv` as ../shared/data has: `file`, `label` = `live` or
`spoof:<type>`, `repository` = the source); it reads only local files:

    python packaging/recipes/liveness.py --models DIR_WITH_PUBLISHED_FILES --data LABELLED_DIR --store OUT \\
        [--bundle liveness.bundle --bundle-id liveness --bundle-version 1 --key vendor.key ...]

1. The PAD models: Silent-Face's MiniFASNetV2 (2.7x crop) and MiniFASNetV1SE (4.0x crop), converted
   by the MiniFASNet recipe (`minifasnet.py`, PyTorch in a Python of its own); the 128x128 MiniFASNet
   ONNX conversion; the deep-tree anti-spoofing TFLite model of syaringan357's Android app. Each gets
   its card with its own crop. Files are recognised by sha256; a missing one is left out and named.
2. Every cue of every labelled media, measured by the QUALITY plugin's own code (`fusion.measure`)
   on the default face models and those PAD models.
3. The fusion: a logistic regression over the cues, each source and each class given the same total
   weight so that no source's look dominates, L2-regularised, solved by Newton's method
   (deterministic: no random start, no sampling), its operating point moved to 0.5 where the training
   media's BPCER is `TARGET_BPCER`. Which cues it reads is chosen from `FEATURES` by backward
   elimination on the training media's own leave-one-source-out log-loss (`choose_features`): a
   cue that helps only on the sources it was fitted on is dropped. Numbers are rounded to 6 significant
   digits, so the same inputs give the same bytes.
4. The live envelope (`choose_envelope`): for a few cues, the edge past which no live face of the
   training media went on the cue's attack side (its most attack-like live value plus a margin in
   interquartile ranges of the live values); a face past an edge goes to an operator. Which cues
   and which margin are chosen as the cues are, on the training media's own leave-one-source-out
   errors (each source's edges fitted without it, the fusion too): a cue is added while it lowers
   them. Candidates: the fusion's own (`FEATURES`); the bundle carries the PAD models either reads.
5. The fusion as an ONNX graph ((x - fill) . coefficients + intercept), built by `liveness_onnx.py`
   in the conversion Python (it has the `onnx` package), checked against the regression here, with
   a card of task `presentation_attack_fusion` whose params name the features, their fill values and
   coefficients and how the model was fitted; installed into `--store` with the PAD models it reads
   (no others: they would cost time for nothing), and with `--bundle`, a signed bundle of it (each
   model with a canary); the envelope rides in the card's params.
6. The whole procedure scored leave-one-source-out on the same media (`held_out_rates`): the card's
   `held_out` BPCER and APCER per attack type, printed in the last line beside `trained` (which
   scores the fusion on the media it was fitted on, so flatters it).

`fit_liveness` (the whole procedure: `choose_features`, `fit_fusion`, `choose_envelope`),
`attack_logits` and `read_samples` are what bench/pad_eval.py uses to score the same procedure
leave-one-source-out: cues chosen, fusion fitted and envelope drawn without the source it is then
scored on.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from appliance_plugin_quality.fusion import EnvelopeEdge

__all__ = [
    "ENVELOPE_MARGINS",
    "FEATURES",
    "TARGET_BPCER",
    "Envelope",
    "Fitted",
    "FusionFit",
    "Sample",
    "attack_logits",
    "choose_envelope",
    "choose_features",
    "cross_source_loss",
    "fit_fusion",
    "fit_liveness",
    "held_out_rates",
    "install_pad_models",
    "main",
    "measure_samples",
    "read_samples",
]

HERE = Path(__file__).resolve().parent
ONNX_BUILDER = HERE / "liveness_onnx.py"
FUSION_NAME = "liveness-fusion"
FUSION_TASK = "presentation_attack_fusion"
FUSION_FILE = "fusion.onnx"

#: The cues the fusion reads, in order (the QUALITY plugin's cue names).
FEATURES: tuple[str, ...] = (
    "pad:silentface-v2-2.7",
    "pad:silentface-v1se-4.0",
    "pad:minifasnet-v2se",
    "pad:syaringan-fas",
    "spectral",
    "glare",
    "flatness",
    "blur",
    "gamut",
    "colour_cast",
    "colour_texture",
    "bezel",
)
#: Labels of generated faces: reported apart, never fitted on.
SYNTHETIC = frozenset({"synthetic", "deepfake"})
#: BPCER of the training media at the operating point.
TARGET_BPCER = 0.03
#: L2 penalty on the standardised coefficients.
L2 = 1.0
#: Significant digits kept of every fitted number.
DIGITS = 6
#: The live envelope's margins tried past the live faces' most attack-like value, in interquartile
#: ranges of their values.
ENVELOPE_MARGINS = (0.0, 0.5, 1.0)
#: The held-out figure needs this many sources: each fold fits on the others, and the fit itself
#: chooses its cues and envelope leaving one of those out.
MIN_HELD_OUT_SOURCES = 3

SYARINGAN_SHA256 = "a980757d55e2835aff69f2fa9b04914e21d426dd8a43588c2982d50e8038ec02"
SYARINGAN_SOURCE = (
    "https://github.com/syaringan357/Android-MobileFaceNet-MTCNN-FaceAntiSpoofing/blob/"
    "d635649e711f5e16e6cd3dc06cbb329cd8d1d3b7/app/src/main/assets/FaceAntiSpoofing.tflite"
)
SYARINGAN_FILE = "model.tflite"


def syaringan_params() -> dict[str, Any]:
    """Card params of the syaringan deep-tree model, as its app prepares the input: the face box grown
    by 44/112 of its size on each side (about 1.8x), resized to 256x256, RGB in [0, 1]; two outputs,
    each leaf's prediction and the leaf mask (the chance of an attack is their product's sum). Its
    input has a fixed batch of one, and at about 90 ms a crop (one core) it scores one crop a media."""
    return {
        "crop_scale": 1.8,
        "input_size": [256, 256],
        "layout": "NHWC",
        "color": "RGB",
        "scale": 1 / 255,
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "border": "reflect_101",
        "output": "leaf_scores",
        "max_batch": 1,
        "max_crops": 1,
    }


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


minifasnet = _load("minifasnet_recipe", HERE / "minifasnet.py")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# The PAD models ---------------------------------------------------------------------------------


def _syaringan_card(path: Path) -> Any:
    from appliance.runtime import ModelCard, ModelFile

    return ModelCard(
        name="syaringan-fas",
        version="1.0.0",
        task="presentation_attack",
        runtime="litert",
        files=[ModelFile(name=SYARINGAN_FILE, sha256=_sha256(path), size_bytes=path.stat().st_size)],
        source=SYARINGAN_SOURCE,
        license="MIT",
        description="deep-tree passive anti-spoofing (print and replay) of syaringan357's Android app, 256x256 RGB "
        "crop of 1.8x the face box; leaf predictions and leaf mask",
        params=syaringan_params(),
    )


@dataclass(frozen=True, slots=True)
class PadModel:
    """One PAD model ready to install: its main file, card and canary input."""

    file: Path
    file_name: str
    card: Any
    canary_input: np.ndarray


def prepare_pad_models(models_dir: Path, workdir: Path, torch_python: str | None = None) -> list[PadModel]:
    """Every published PAD model found in `models_dir` (by sha256), converted and described."""
    prepared: list[PadModel] = []
    for path in sorted(p for p in models_dir.iterdir() if p.is_file()):
        sha = _sha256(path)
        if sha == SYARINGAN_SHA256:
            # blocks of 8 x 8 pixels: a canary that compresses, since its 768 kB input rides in the manifest
            blocks = np.random.default_rng(2).uniform(0, 1, (1, 32, 32, 3)).astype(np.float32)
            canary = np.repeat(np.repeat(blocks, 8, axis=1), 8, axis=2)
            prepared.append(PadModel(path, SYARINGAN_FILE, _syaringan_card(path), canary))
        elif (known := minifasnet.KNOWN.get(sha)) is not None and not known.name.endswith("int8"):
            item = minifasnet.prepare(path, workdir, torch_python=torch_python)
            prepared.append(PadModel(item.onnx, minifasnet.FILE_NAME, item.card, item.canary_input))
    return prepared


def install_pad_models(store_root: Path, prepared: Sequence[PadModel]) -> None:
    """Install and activate `prepared` PAD models into the model store at `store_root`."""
    from appliance.runtime import ModelStore

    store = ModelStore(store_root)
    for item in prepared:
        store.install(item.card, {item.file_name: item.file}, activate=True)


# The labelled media -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled media: `label` is `live` or the attack type (`print`, `screen`, ...)."""

    path: Path
    source: str
    label: str
    #: As the manifest's `file` column names it.
    name: str

    @property
    def is_attack(self) -> bool:
        return self.label != "live"

    @property
    def is_synthetic(self) -> bool:
        """A generated face: scored and reported apart, never fitted on (PAD makes no claim on it)."""
        return self.label in SYNTHETIC


def read_samples(data: Path) -> list[Sample]:
    """The PAD media of `data/manifest.csv`: rows labelled `live`, `spoof:<type>` or a synthetic face
    (`synthetic`, `deepfake`, also as `spoof:<it>`), and the genuine face videos (`category` video,
    label starting with `live`), in the manifest's order."""
    samples = []
    with open(data / "manifest.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            label = row["label"].strip()
            if label.startswith("spoof:"):
                kind = label.removeprefix("spoof:") or "unknown"
            elif label in SYNTHETIC:
                kind = label
            elif label == "live" or (row.get("category") == "video" and label.startswith("live")):
                kind = "live"
            else:
                continue
            path = data / row["file"]
            if path.is_file():
                samples.append(Sample(path, row.get("repository") or "unknown", kind, row["file"]))
    return samples


@dataclass(slots=True)
class Measurement:
    """The cues of one sample (None: no face found) and whether it is a video."""

    sample: Sample
    cues: dict[str, float] | None
    video: bool
    #: The attack log-odds of the default rule (the plugin without a fusion model), per PAD model set.
    default_logits: dict[str, float | None] = field(default_factory=dict)


def measure_samples(
    store_root: Path, samples: Sequence[Sample], default_rule_sets: Mapping[str, Sequence[str]] = {}
) -> list[Measurement]:
    """Every cue of every sample, measured as the QUALITY plugin measures them (its default track);
    and for each named set of PAD models, the default rule's attack log-odds with only those models."""
    from appliance_plugin_quality import fusion

    from appliance.sdk import AnalysisContext, MediaKind
    from appliance.sdk.testing import media_input, vision_service

    vision = vision_service(store_root)
    out = []
    for sample in samples:
        ctx = AnalysisContext({"liveness": 0.5}, vision=vision)
        media = media_input(sample.path)
        measured = fusion.measure(ctx, media, ctx.faces(media))
        video = media.kind is not MediaKind.IMAGE
        if measured is None:
            out.append(Measurement(sample, None, video))
            continue
        cues = {c.name: c.value for c in measured.cues}
        logits = {name: fusion.default_rule_logit(measured, models) for name, models in default_rule_sets.items()}
        out.append(Measurement(sample, cues, video, logits))
        vision.forget(media.media_id)
    return out


# The fusion -------------------------------------------------------------------------------------


def _round(value: float) -> float:
    return float(f"{value:.{DIGITS}g}")


@dataclass(frozen=True, slots=True)
class FusionFit:
    """A fitted fusion: attack logit = sum((x - fill) * coefficients) + intercept, 0 at the operating point."""

    features: tuple[str, ...]
    fill: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    #: What it was fitted on: media, sources, BPCER and APCER at the operating point.
    trained: dict[str, Any]

    def params(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "fill": list(self.fill),
            "coefficients": list(self.coefficients),
            "intercept": self.intercept,
            "operating_point": 0.5,
            "trained": self.trained,
        }


def _matrix(rows: Sequence[Mapping[str, float]], features: Sequence[str], fill: np.ndarray) -> np.ndarray:
    return np.array([[row.get(f, fill[i]) for i, f in enumerate(features)] for row in rows], dtype=np.float64)


def _newton(x: np.ndarray, y: np.ndarray, weights: np.ndarray, l2: float, iterations: int = 100) -> np.ndarray:
    """Weighted, L2-regularised logistic regression (the intercept, last, not penalised)."""
    xb = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(xb.shape[1])
    penalty = np.eye(xb.shape[1]) * l2
    penalty[-1, -1] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(xb @ w, -30, 30)))
        gradient = xb.T @ ((p - y) * weights) + penalty @ w
        hessian = xb.T @ (xb * (p * (1 - p) * weights)[:, None]) + penalty
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return w


def _operating_point(live: np.ndarray, attacks: np.ndarray, target_bpcer: float) -> float:
    """The attack logit to put at 0.5: at most `target_bpcer` of `live` at or above it, halfway between
    the highest live score it passes and the next score above (the rejected live one, or the lowest
    attack above every passed live face)."""
    if not len(live):
        return 0.0
    live = np.sort(live)
    allowed = math.floor(len(live) * target_bpcer)
    passed = float(live[len(live) - allowed - 1])
    above = live[len(live) - allowed :] if allowed else attacks[attacks > passed]
    return (passed + float(above.min())) / 2 if len(above) else passed + 1.0


def fit_fusion(
    rows: Sequence[Mapping[str, float]],
    attacks: Sequence[bool],
    sources: Sequence[str],
    features: Sequence[str] = FEATURES,
    *,
    target_bpcer: float = TARGET_BPCER,
    l2: float = L2,
) -> FusionFit:
    """Fit the fusion on `rows` (each sample's cue values; a cue missing from a row is filled with
    the feature's mean over the rows that have it), `attacks` (the labels) and `sources`."""
    y = np.asarray(attacks, dtype=np.float64)
    present = [[f in row for row in rows] for f in features]
    fill = np.array(
        [
            np.mean([row[f] for row in rows if f in row]) if any(p) else 0.0
            for f, p in zip(features, present, strict=True)
        ]
    )
    x = _matrix(rows, features, fill)
    centre, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    # each (source, class) cell weighs the same in total: a source of 25 frames of one video counts as
    # much as one of 3 photos, and live as much as attack
    cells: dict[tuple[str, bool], int] = {}
    for source, attack in zip(sources, attacks, strict=True):
        cells[(source, attack)] = cells.get((source, attack), 0) + 1
    weights = np.array([1.0 / cells[(s, a)] for s, a in zip(sources, attacks, strict=True)])
    weights *= len(weights) / weights.sum()
    w = _newton((x - centre) / scale, y, weights, l2)
    coefficients = w[:-1] / scale
    intercept = float(w[-1] + coefficients @ (fill - centre))  # on (x - fill) instead of standardised x
    logits = (x - fill) @ coefficients + intercept
    threshold = _operating_point(logits[y == 0], logits[y == 1], target_bpcer)
    intercept -= threshold
    logits -= threshold
    trained = {
        "media": len(rows),
        "sources": len(set(sources)),
        "target_bpcer": target_bpcer,
        "l2": l2,
        "bpcer": _round(float(np.mean(logits[y == 0] >= 0)) if (y == 0).any() else 0.0),
        "apcer": _round(float(np.mean(logits[y == 1] < 0)) if (y == 1).any() else 0.0),
    }
    return FusionFit(
        tuple(features),
        tuple(_round(v) for v in fill),
        tuple(_round(v) for v in coefficients),
        _round(intercept),
        trained,
    )


def cross_source_loss(
    rows: Sequence[Mapping[str, float]], labels: Sequence[str], sources: Sequence[str], features: Sequence[str]
) -> float:
    """The log-loss of the fusion over `features` scored leave-one-source-out, each (source, class)
    cell weighing the same in total, as in the fit. A proper score of every media's logit, not a
    count of errors at one threshold: choosing cues by the count swung with single media."""
    logits = np.zeros(len(rows))
    attacks = np.array([label != "live" for label in labels])
    for source in sorted(set(sources)):
        train = [i for i, s in enumerate(sources) if s != source]
        test = [i for i, s in enumerate(sources) if s == source]
        fit = fit_fusion([rows[i] for i in train], attacks[train].tolist(), [sources[i] for i in train], features)
        logits[test] = attack_logits(fit, [rows[i] for i in test])
    cells: dict[tuple[str, bool], int] = {}
    for source, attack in zip(sources, attacks, strict=True):
        cells[(source, bool(attack))] = cells.get((source, bool(attack)), 0) + 1
    weights = np.array([1.0 / cells[(s, bool(a))] for s, a in zip(sources, attacks, strict=True)])
    margins = np.where(attacks, logits, -logits)
    return float(np.sum(weights * np.logaddexp(0.0, -margins)) / weights.sum())


def choose_features(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    sources: Sequence[str],
    candidates: Sequence[str] = FEATURES,
) -> tuple[str, ...]:
    """Backward elimination: drop, one at a time, the cue whose removal lowers the leave-one-source-out
    loss of these media the most, while one does; a cue that only fits some sources' look goes. At
    least one PAD model's cue stays: the model-free cues alone never vouch for a live face."""
    chosen = list(candidates)
    best = cross_source_loss(rows, labels, sources, chosen)
    while len(chosen) > 1:
        pad_cues = [f for f in chosen if f.startswith("pad:")]
        droppable = [f for f in chosen if f not in pad_cues or len(pad_cues) > 1]  # a PAD model's cue stays
        trials = [
            (cross_source_loss(rows, labels, sources, [f for f in chosen if f != drop]), drop) for drop in droppable
        ]
        error, drop = min(trials)
        if error >= best:
            break
        best = error
        chosen.remove(drop)
    return tuple(chosen)


def attack_logits(fit: FusionFit, rows: Sequence[Mapping[str, float]]) -> np.ndarray:
    """The fusion's attack logit of each row (0 at the operating point)."""
    fill = np.asarray(fit.fill)
    return (
        _matrix(rows, fit.features, fill) @ np.asarray(fit.coefficients)
        - fill @ np.asarray(fit.coefficients)
        + fit.intercept
    )


# The live envelope ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Envelope:
    """The live envelope: its margin and, for each cue chosen, its edge."""

    margin: float
    edges: tuple[EnvelopeEdge, ...]

    def outside(self, row: Mapping[str, float]) -> bool:
        """The media of these cue values lies past an edge."""
        return any(edge.cue in row and edge.outside(row[edge.cue]) for edge in self.edges)

    def params(self) -> dict[str, Any]:
        return {"margin_iqr": self.margin, "edges": [edge.to_params() for edge in self.edges]}


def live_edges(
    rows: Sequence[Mapping[str, float]], attacks: Sequence[bool], cues: Sequence[str], margin: float
) -> dict[str, EnvelopeEdge]:
    """For each of `cues` that live rows have, the edge past the live rows' most attack-like value
    by `margin` interquartile ranges of their values."""
    from appliance_plugin_quality.cues import attack_above
    from appliance_plugin_quality.fusion import EnvelopeEdge

    edges = {}
    for cue in cues:
        above = attack_above(cue)
        if above is None:
            raise ValueError(f"cue {cue} has no attack side: it cannot be in the live envelope")
        sign = 1.0 if above else -1.0
        values = np.array(
            [row[cue] * sign for row, attack in zip(rows, attacks, strict=True) if not attack and cue in row]
        )
        if len(values):
            q1, q3 = np.percentile(values, [25, 75])
            edges[cue] = EnvelopeEdge(cue, above, _round(sign * float(values.max() + margin * (q3 - q1))))
    return edges


def _balanced_error(attacks: np.ndarray, sources: Sequence[str], decided_attack: np.ndarray) -> float:
    """The mean error rate of the sources' live media plus that of their attacks: each (source,
    class) cell weighs the same, as in the fit."""
    cells: dict[tuple[str, bool], list[bool]] = {}
    for source, attack, decided in zip(sources, attacks, decided_attack, strict=True):
        cells.setdefault((source, bool(attack)), []).append(bool(decided) != bool(attack))
    live = [np.mean(errors) for (_, attack), errors in cells.items() if not attack]
    spoof = [np.mean(errors) for (_, attack), errors in cells.items() if attack]
    return float((np.mean(live) if live else 0.0) + (np.mean(spoof) if spoof else 0.0))


def choose_envelope(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    sources: Sequence[str],
    fusion_features: Sequence[str],
    candidates: Sequence[str] = FEATURES,
    margins: Sequence[float] = ENVELOPE_MARGINS,
) -> Envelope:
    """The live envelope's cues (among `candidates` with an attack side) and margin, chosen on the
    rows' own leave-one-source-out errors (`_held_out`): for each margin, cues added one at a time,
    the one that lowers the errors most, while one does; the margin with the fewest errors kept;
    then the edges drawn on every row."""
    from appliance_plugin_quality.cues import attack_above

    attacks = np.array([label != "live" for label in labels])
    candidates = [c for c in candidates if attack_above(c) is not None]
    fusion_attack, outside = _held_out(rows, attacks, sources, fusion_features, candidates, margins)

    def error(columns: list[int], margin: float) -> float:
        return _balanced_error(attacks, sources, fusion_attack | outside[margin][:, columns].any(axis=1))

    best_error, best_margin, best_cues = error([], margins[0]), margins[0], []
    for margin in margins:
        chosen: list[int] = []
        current = error(chosen, margin)
        while len(chosen) < len(candidates):
            trial, column = min((error([*chosen, c], margin), c) for c in range(len(candidates)) if c not in chosen)
            if trial >= current - 1e-12:
                break
            current = trial
            chosen.append(column)
        if current < best_error - 1e-12:
            best_error, best_margin, best_cues = current, margin, [candidates[c] for c in chosen]
    edges = live_edges(rows, attacks.tolist(), best_cues, best_margin)
    return Envelope(best_margin, tuple(edges[cue] for cue in best_cues if cue in edges))


def _held_out(
    rows: Sequence[Mapping[str, float]],
    attacks: np.ndarray,
    sources: Sequence[str],
    fusion_features: Sequence[str],
    candidates: Sequence[str],
    margins: Sequence[float],
) -> tuple[np.ndarray, dict[float, np.ndarray]]:
    """Each row as decided without its source: whether the fusion fitted on the other sources calls
    it an attack, and for each margin, which `candidates` put it past the edges drawn on the other
    sources' live rows (a row x candidate table)."""
    fusion_attack = np.zeros(len(rows), dtype=bool)
    outside = {margin: np.zeros((len(rows), len(candidates)), dtype=bool) for margin in margins}
    for source in sorted(set(sources)):
        train = [i for i, s in enumerate(sources) if s != source]
        test = [i for i, s in enumerate(sources) if s == source]
        train_rows, train_attacks = [rows[i] for i in train], attacks[train].tolist()
        fit = fit_fusion(train_rows, train_attacks, [sources[i] for i in train], fusion_features)
        fusion_attack[test] = attack_logits(fit, [rows[i] for i in test]) >= 0
        for margin in margins:
            edges = live_edges(train_rows, train_attacks, candidates, margin)
            for column, cue in enumerate(candidates):
                if cue in edges:
                    outside[margin][test, column] = [cue in rows[i] and edges[cue].outside(rows[i][cue]) for i in test]
    return fusion_attack, outside


@dataclass(frozen=True, slots=True)
class Fitted:
    """What the recipe's whole procedure fits on labelled media: the fusion and its live envelope."""

    fusion: FusionFit
    envelope: Envelope

    def outside(self, rows: Sequence[Mapping[str, float]]) -> list[bool]:
        return [self.envelope.outside(row) for row in rows]


def fit_liveness(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    sources: Sequence[str],
    candidates: Sequence[str] = FEATURES,
) -> Fitted:
    """The recipe's whole procedure on these media: the cues chosen among `candidates`, the fusion
    fitted on them, its live envelope chosen."""
    features = choose_features(rows, labels, sources, candidates)
    fusion = fit_fusion(rows, [label != "live" for label in labels], sources, features)
    return Fitted(fusion, choose_envelope(rows, labels, sources, features, candidates))


def held_out_rates(
    rows: Sequence[Mapping[str, float]],
    labels: Sequence[str],
    sources: Sequence[str],
    candidates: Sequence[str] = FEATURES,
) -> dict[str, Any] | None:
    """The recipe's whole procedure (`fit_liveness`) scored leave-one-source-out on these media: each
    source decided by what was fitted on the others. BPCER counts the live media not accepted
    (declined, or past the envelope: sent to an operator), APCER, per attack type, the attacks
    accepted. This is the figure to read before shipping a bundle: `trained` scores the fusion on
    the media it was fitted on. None with fewer than `MIN_HELD_OUT_SOURCES` sources."""
    names = sorted(set(sources))
    if len(names) < MIN_HELD_OUT_SOURCES:
        return None
    accepted = np.zeros(len(rows), dtype=bool)
    for source in names:
        held = [i for i, s in enumerate(sources) if s == source]
        train = [i for i, s in enumerate(sources) if s != source]
        fitted = fit_liveness(
            [rows[i] for i in train], [labels[i] for i in train], [sources[i] for i in train], candidates
        )
        test = [rows[i] for i in held]
        accepted[held] = (attack_logits(fitted.fusion, test) < 0) & ~np.array(fitted.outside(test), dtype=bool)
    kind = np.array([label.removeprefix("spoof:") for label in labels])
    live = kind == "live"
    return {
        "sources": len(names),
        "bpcer": _round(float(np.mean(~accepted[live]))) if live.any() else 0.0,
        "apcer": {str(attack): _round(float(np.mean(accepted[kind == attack]))) for attack in sorted(set(kind[~live]))},
    }


# The fusion model file, card and bundle ---------------------------------------------------------


def build_fusion_onnx(fit: FusionFit, out: Path, torch_python: str | None = None) -> None:
    """The fusion as an ONNX graph, written by liveness_onnx.py in the conversion Python."""
    python = torch_python or minifasnet._default_torch_python()
    with tempfile.TemporaryDirectory(prefix="liveness-onnx-") as tmp:
        spec = Path(tmp) / "fusion.json"
        spec.write_text(json.dumps(fit.params()))
        done = subprocess.run(
            [python, str(ONNX_BUILDER), "--spec", str(spec), "--onnx", str(out)],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise ValueError(lines[-1] if lines else f"the fusion graph could not be built (exit {done.returncode})")


def fusion_card(
    fit: FusionFit, envelope: Envelope, held_out: dict[str, Any] | None, onnx_file: Path, version: str
) -> Any:
    from appliance.runtime import ModelCard, ModelFile

    return ModelCard(
        name=FUSION_NAME,
        version=version,
        task=FUSION_TASK,
        runtime="onnx",
        files=[ModelFile(name=FUSION_FILE, sha256=_sha256(onnx_file), size_bytes=onnx_file.stat().st_size)],
        source="packaging/recipes/liveness.py",
        license="Apache-2.0",
        description=f"logistic fusion of {len(fit.features)} liveness cues, fitted on {fit.trained['media']} media "
        f"of {fit.trained['sources']} sources; attack logit, operating point at 0",
        params={**fit.params(), "envelope": envelope.params(), "held_out": held_out},
    )


def _check_graph(fit: FusionFit, onnx_file: Path, rows: Sequence[Mapping[str, float]]) -> None:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    x = _matrix(rows, fit.features, np.asarray(fit.fill)).astype(np.float32)
    got = session.run(None, {"cues": x})[0].reshape(-1)
    expected = attack_logits(fit, rows)
    if not np.allclose(got, expected, atol=1e-3, rtol=1e-4):
        raise ValueError(f"the fusion graph differs from the regression by {np.abs(got - expected).max():.2g}")


def _canary_input(fit: FusionFit) -> np.ndarray:
    rng = np.random.default_rng(3)
    fill = np.asarray(fit.fill, dtype=np.float32)
    return (fill + rng.normal(0, 1, (4, len(fill)))).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build the liveness bundle: the PAD models and the fitted fusion.")
    parser.add_argument("--models", type=Path, required=True, help="a directory holding the published model files")
    parser.add_argument("--data", type=Path, required=True, help="labelled media with a manifest.csv")
    parser.add_argument("--store", type=Path, required=True, help="an empty directory, the bundle's model store")
    parser.add_argument("--version", default="1.0.0", help="the fusion model's version (PEP 440)")
    parser.add_argument("--torch-python", help="the conversion Python (PyTorch, onnx), default .venv-convert")
    parser.add_argument("--bundle", type=Path, help="also build a signed bundle of --store here")
    parser.add_argument("--bundle-id", default="liveness")
    parser.add_argument("--bundle-version", type=int, default=1, help="an integer that only grows")
    parser.add_argument("--key", type=Path, action="append", default=[], help="a signing key (repeatable)")
    parser.add_argument(
        "--issued-at", help="the bundle's issue time (ISO 8601): the same inputs and time give the same bytes"
    )
    args = parser.parse_args(argv)
    if args.bundle and not args.key:
        parser.error("--bundle needs at least one --key")
    try:
        fitted, prepared = build(
            args.models, args.data, args.store, version=args.version, torch_python=args.torch_python
        )
        if args.bundle:
            items = [
                minifasnet.Prepared(p.file, p.card, p.canary_input) for p in prepared
            ]  # the MiniFASNet recipe's bundle builder takes (file, card, canary input)
            minifasnet.build_bundle(
                args.store,
                items,
                args.bundle,
                bundle_id=args.bundle_id,
                version=args.bundle_version,
                keys=args.key,
                issued_at=args.issued_at,
            )
    except (ValueError, OSError) as exc:
        print(f"liveness: {exc}", file=sys.stderr)
        return 1
    fusion_params = prepared[-1].card.params
    summary = {"store": str(args.store), "models": [p.card.name for p in prepared], "trained": fitted.fusion.trained}
    print(json.dumps({**summary, "held_out": fusion_params["held_out"], "envelope": fitted.envelope.params()}))
    return 0


def build(
    models_dir: Path, data: Path, store_root: Path, *, version: str = "1.0.0", torch_python: str | None = None
) -> tuple[Fitted, list[PadModel]]:
    """Measure, fit, and install the PAD models and the fusion (with its envelope) into `store_root`."""
    from appliance.runtime import ModelStore
    from appliance.sdk.testing import default_models

    samples = read_samples(data)
    if not samples:
        raise ValueError(f"{data / 'manifest.csv'} names no live or spoof media that exist")
    with tempfile.TemporaryDirectory(prefix="liveness-") as tmp:
        work = Path(tmp)
        pad_models = prepare_pad_models(models_dir, work, torch_python)
        found = {p.card.name for p in pad_models}
        wanted = {f.removeprefix("pad:") for f in FEATURES if f.startswith("pad:")}
        if missing := sorted(wanted - found):
            raise ValueError(f"{models_dir} lacks the published files of: {', '.join(missing)}")
        scratch = default_models(work / "measure")
        install_pad_models(scratch, pad_models)
        fitted_on = [s for s in samples if not s.is_synthetic]
        measured = [m for m in measure_samples(scratch, fitted_on) if m.cues is not None]
        rows = [m.cues for m in measured if m.cues is not None]
        sources = [m.sample.source for m in measured]
        labels = [m.sample.label for m in measured]
        fitted = fit_liveness(rows, labels, sources)
        fit, envelope = fitted.fusion, fitted.envelope
        onnx_file = work / FUSION_FILE
        build_fusion_onnx(fit, onnx_file, torch_python)
        _check_graph(fit, onnx_file, rows)
        cues = {*fit.features, *(edge.cue for edge in envelope.edges)}
        read = [p for p in pad_models if f"pad:{p.card.name}" in cues]
        install_pad_models(store_root, read)  # the bundle carries the PAD models its fusion reads, no more
        card = fusion_card(fit, envelope, held_out_rates(rows, labels, sources), onnx_file, version)
        ModelStore(store_root).install(card, {FUSION_FILE: onnx_file}, activate=True)
    fusion = PadModel(store_root / FUSION_NAME / version / FUSION_FILE, FUSION_FILE, card, _canary_input(fit))
    return fitted, [*read, fusion]


if __name__ == "__main__":
    sys.exit(main())
