"""Presentation attack detection measured as ISO/IEC 30107-3 does, on media the method never saw.

    .venv/bin/python bench/pad_eval.py [--data ../shared/data] [--models DATA/models] [--cache FILE]
    .venv/bin/python bench/pad_eval.py --data OTHER_DIR --frozen [--store SHIPPED_STORE]

The media are those of DATA/manifest.csv labelled `live` or `spoof:<type>`, and its genuine face
videos (packaging/recipes/liveness.py, `read_samples`); `repository` names each one's source. Every
cue of every media is measured once, as the QUALITY plugin measures it, with every PAD model of
--models installed (the liveness recipe converts and describes them). Then:

* (a) the model-free cues under the default rule, (b) the MiniFASNet bundle as it shipped (Silent-Face's
  pair under the default rule, scoring tight face crops too) and (b') the same pair not judging a face
  without the surroundings it needs, as the liveness recipe's cards say: nothing fitted here;
* (c) the fusion fitted on every source and scored on them (dev-fitted: flattering, shown only
  beside the next);
* (d) **the fusion leave-one-source-out**: for each source, the recipe's whole procedure (which cues,
  the regression, the operating point, the live envelope) runs on the other sources only, then
  scores that source. This is the figure that counts; (d') is the same without the envelope;
* the ablation, leave-one-source-out, over every cue the recipe may choose: each cue alone, and all
  cues but each.

For each: BPCER, APCER per attack type with its 95 % upper bound (Clopper-Pearson), ACER (the
largest APCER of the types with at least 10 media, plus BPCER, halved), for images and videos apart
and together; a DET table of (d); a per-source table of (b) and (d). A live media with no face found
counts as rejected; an attack with no face found as not accepted; a media past the live envelope
goes to an operator, so is never accepted (a live one counts as rejected). Synthetic faces (`spoof:synthetic`,
`spoof:deepfake`) are reported apart: no claim is made that PAD stops them.

`--frozen` scores DIR with the bundle as shipped (the store of --store, or the liveness recipe's
build from the shared data), fitting nothing: the plugin's own decision at confidence_spoofing 0.5.
Its last line is `PAD frozen: BPCER x% APCER max y% (type) ACER z%`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from scipy.stats import beta

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from appliance_plugin_quality.fusion import DEFAULT_RULE, VIDEO_CUES  # noqa: E402

from tests.support.recipes import load_recipe  # noqa: E402

recipe = load_recipe("liveness")

#: Attack types reported apart: PAD does not claim to stop a generated face.
SYNTHETIC = recipe.SYNTHETIC
#: APCER counts in the ACER for attack types with at least this many media.
MIN_TYPE_MEDIA = 10
#: The pair that made the MiniFASNet bundle.
PAIR = ("silentface-v2-2.7", "silentface-v1se-4.0")
DET_OFFSETS = (-3.0, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0)


@dataclass(frozen=True, slots=True)
class Scored:
    """One media's attack logit under a setup (None: no face, or nothing to judge), and whether it
    lies past the live envelope (sent to an operator: never accepted, whatever the logit)."""

    name: str
    source: str
    label: str
    video: bool
    logit: float | None
    outside_envelope: bool = False


# Rates ------------------------------------------------------------------------------------------


def upper_bound(errors: int, total: int, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound of an error rate."""
    if total == 0:
        return 1.0
    if errors >= total:
        return 1.0
    return float(beta.ppf(confidence, errors + 1, total - errors))


def _wrong(item: Scored, offset: float) -> bool:
    """A live media not accepted, or an attack accepted, at the threshold moved by `offset`."""
    accepted = item.logit is not None and item.logit < offset and not item.outside_envelope
    return not accepted if item.label == "live" else accepted


@dataclass(frozen=True, slots=True)
class Rates:
    """Errors and totals per label (`live`: bona fide rejected; a type: attacks accepted)."""

    counts: dict[str, tuple[int, int]]

    @classmethod
    def of(cls, items: Sequence[Scored], offset: float = 0.0) -> Rates:
        counts: dict[str, tuple[int, int]] = {}
        for item in items:
            errors, total = counts.get(item.label, (0, 0))
            counts[item.label] = (errors + int(_wrong(item, offset)), total + 1)
        return cls(counts)

    @property
    def bpcer(self) -> float:
        errors, total = self.counts.get("live", (0, 0))
        return errors / total if total else 0.0

    def attack_types(self) -> list[str]:
        return sorted(t for t in self.counts if t != "live" and t not in SYNTHETIC)

    def apcer(self, kind: str) -> float:
        errors, total = self.counts[kind]
        return errors / total

    def worst(self, min_media: int = MIN_TYPE_MEDIA) -> tuple[str, float] | None:
        """The attack type (with at least `min_media` media) with the highest APCER."""
        counted = [(self.apcer(t), t) for t in self.attack_types() if self.counts[t][1] >= min_media]
        if not counted:
            return None
        value, kind = max(counted)
        return kind, value

    @property
    def acer(self) -> float:
        worst = self.worst()
        return ((worst[1] if worst else 0.0) + self.bpcer) / 2

    def cell(self, label: str) -> str:
        errors, total = self.counts.get(label, (0, 0))
        if not total:
            return "-"
        return f"{errors}/{total} ({errors / total:.1%}, <={upper_bound(errors, total):.0%})"


# Printing ---------------------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def summary(title: str, setups: Mapping[str, Sequence[Scored]]) -> None:
    """BPCER, APCER per type and ACER of each setup, for all media, images and videos."""
    every = [i for items in setups.values() for i in items]
    types = Rates.of(every).attack_types()
    print(f"### {title}\n")
    header = ["setup", "media", "BPCER", *(f"APCER {t}" for t in types), "ACER"]
    rows = []
    for name, items in setups.items():
        for media, chosen in (
            ("all", items),
            ("images", [i for i in items if not i.video]),
            ("videos", [i for i in items if i.video]),
        ):
            if not chosen:
                continue
            rates = Rates.of(chosen)
            rows.append([name, media, rates.cell("live"), *(rates.cell(t) for t in types), f"{rates.acer:.1%}"])
    _table(header, rows)
    synthetic = [i for i in every if i.label in SYNTHETIC]
    if synthetic:
        print("Synthetic faces (reported apart; PAD makes no claim on them):")
        for name, items in setups.items():
            rates = Rates.of([i for i in items if i.label in SYNTHETIC])
            print(f"  {name}: " + ", ".join(f"{t} accepted {rates.cell(t)}" for t in sorted(rates.counts)))
        print()


def det(title: str, items: Sequence[Scored]) -> None:
    print(f"### DET: {title} (threshold moved from the operating point, in attack log-odds)\n")
    types = Rates.of(items).attack_types()
    rows = []
    for offset in DET_OFFSETS:
        rates = Rates.of(items, offset)
        cells = [f"{rates.apcer(t):.1%}" for t in types]
        rows.append([f"{offset:+.1f} (confidence {1 / (1 + math.exp(-offset)):.2f})", f"{rates.bpcer:.1%}", *cells])
    _table(["threshold", "BPCER", *(f"APCER {t}" for t in types)], rows)


def per_source(setups: Mapping[str, Sequence[Scored]]) -> None:
    print("### Per source: live rejected, attacks accepted\n")
    sources = sorted({i.source for items in setups.values() for i in items})
    rows = []
    for source in sources:
        row = [source]
        for items in setups.values():
            chosen = [i for i in items if i.source == source]
            live = [i for i in chosen if i.label == "live"]
            attacks = [i for i in chosen if i.label != "live" and i.label not in SYNTHETIC]
            row += [
                f"{sum(_wrong(i, 0.0) for i in live)}/{len(live)}",
                f"{sum(_wrong(i, 0.0) for i in attacks)}/{len(attacks)}",
            ]
        rows.append(row)
    header = ["source", *(f"{name}: {what}" for name in setups for what in ("live rejected", "attacks accepted"))]
    _table(header, rows)


# Setups -----------------------------------------------------------------------------------------


def _video_terms(cues: Mapping[str, float]) -> float:
    return sum(DEFAULT_RULE[name].term(cues[name]) for name in VIDEO_CUES if name in cues)


def default_rule(measured: Sequence, key: str) -> list[Scored]:
    return [
        Scored(m.sample.name, m.sample.source, m.sample.label, m.video, m.default_logits.get(key) if m.cues else None)
        for m in measured
    ]


def fusion_scores(
    measured: Sequence, features: Sequence[str], *, dev_fitted: bool = False, choose: bool = False
) -> list[Scored]:
    """The fusion over `features`, fitted leave-one-source-out (or once on every source, `dev_fitted`);
    with `choose`, the recipe's whole procedure on the training sources (`fit_liveness`: its cues
    chosen among `features`, and its live envelope)."""
    with_face = [m for m in measured if m.cues is not None]
    sources = sorted({m.sample.source for m in measured})
    logits: dict[int, float] = {}
    outside: set[int] = set()
    fittable = [m for m in with_face if not m.sample.is_synthetic]  # a generated face is never fitted on
    folds = [(None, fittable)] if dev_fitted else [(s, [m for m in fittable if m.sample.source != s]) for s in sources]
    for left_out, training in folds:
        rows, training_sources = [m.cues for m in training], [m.sample.source for m in training]
        labels = [m.sample.label for m in training]
        if choose:
            fitted = recipe.fit_liveness(rows, labels, training_sources, features)
            chosen.setdefault(left_out, fitted)
            fit, envelope = fitted.fusion, fitted.envelope
        else:
            fit, envelope = (
                recipe.fit_fusion(rows, [m.sample.is_attack for m in training], training_sources, features),
                None,
            )
        scored = [m for m in with_face if left_out is None or m.sample.source == left_out]
        if not scored:
            continue
        values = recipe.attack_logits(fit, [m.cues for m in scored])
        for m, value in zip(scored, values, strict=True):
            logits[id(m)] = float(value) + (_video_terms(m.cues) if m.video else 0.0)
            if envelope is not None and envelope.outside(m.cues):
                outside.add(id(m))
    return [
        Scored(m.sample.name, m.sample.source, m.sample.label, m.video, logits.get(id(m)), id(m) in outside)
        for m in measured
    ]


def ablation(measured: Sequence, features: Sequence[str]) -> None:
    print("### Ablation, leave-one-source-out (all media): each cue alone, and all but it\n")
    rows = []
    full = Rates.of(fusion_scores(measured, features))
    rows.append(["all cues", "", _short(full)])
    for feature in features:
        alone = Rates.of(fusion_scores(measured, [feature]))
        without = Rates.of(fusion_scores(measured, [f for f in features if f != feature]))
        rows.append([feature, _short(alone), _short(without)])
    _table(["cue", "alone: BPCER / worst APCER / ACER", "all but it: BPCER / worst APCER / ACER"], rows)


def _short(rates: Rates) -> str:
    worst = rates.worst()
    worst_text = f"{worst[1]:.1%} {worst[0]}" if worst else "-"
    return f"{rates.bpcer:.1%} / {worst_text} / {rates.acer:.1%}"


# Measuring --------------------------------------------------------------------------------------

RULE_SETS = {"model_free": (), "pair": PAIR}
#: The pair as the MiniFASNet bundle shipped it: every face scored, tight crops too.
SHIPPED_PAIR = "pair_as_shipped"


def _as_shipped(pad_models: Sequence) -> list:
    """The MiniFASNet pair as its bundle shipped before the liveness recipe: scoring every face,
    tight crops included (no `min_context`)."""
    import msgspec

    return [
        recipe.PadModel(
            p.file,
            p.file_name,
            msgspec.structs.replace(p.card, params={k: v for k, v in p.card.params.items() if k != "min_context"}),
            p.canary_input,
        )
        for p in pad_models
        if p.card.name in PAIR
    ]


def measure(data: Path, models: Path, cache: Path | None) -> list:
    samples = recipe.read_samples(data)
    if cache is not None and cache.is_file():
        saved = json.loads(cache.read_text())
        by_name = {s.name: s for s in samples}
        if set(saved) == set(by_name):
            return [
                recipe.Measurement(by_name[n], v["cues"], v["video"], v["default_logits"]) for n, v in saved.items()
            ]
    from appliance.sdk.testing import default_models

    with tempfile.TemporaryDirectory(prefix="pad-eval-") as tmp:
        store = default_models(Path(tmp) / "models")
        pad_models = recipe.prepare_pad_models(models, Path(tmp))
        recipe.install_pad_models(store, pad_models)
        measured = recipe.measure_samples(store, samples, RULE_SETS)
        baseline = default_models(Path(tmp) / "as-shipped")
        recipe.install_pad_models(baseline, _as_shipped(pad_models))
        for m, shipped in zip(measured, recipe.measure_samples(baseline, samples, {SHIPPED_PAIR: PAIR}), strict=True):
            m.default_logits[SHIPPED_PAIR] = shipped.default_logits.get(SHIPPED_PAIR)
    if cache is not None:
        cache.write_text(
            json.dumps(
                {
                    m.sample.name: {"cues": m.cues, "video": m.video, "default_logits": m.default_logits}
                    for m in measured
                }
            )
        )
    return measured


def describe(measured: Sequence) -> None:
    labels: dict[str, int] = {}
    for m in measured:
        labels[m.sample.label] = labels.get(m.sample.label, 0) + 1
    videos = sum(m.video for m in measured)
    sources = len({m.sample.source for m in measured})
    no_face = sum(m.cues is None for m in measured)
    print(f"{len(measured)} media ({len(measured) - videos} images, {videos} videos) from {sources} sources: {labels}")
    print(f"no face found in {no_face}; operating point: attack log-odds 0 (confidence_spoofing 0.5)\n")


#: What the recipe fitted in each fold (None: the dev-fitted fusion, on every source), for the report.
chosen: dict[str | None, Any] = {}


def report_fits(features: Sequence[str], loso: Sequence[Scored]) -> None:
    """What the recipe chose on every source and in the folds: its cues, its live envelope, and how
    many media the envelope sent to an operator."""
    folds = {key: fitted for key, fitted in chosen.items() if key is not None}
    print(f"Cues the recipe chooses on every source: {', '.join(chosen[None].fusion.features)}")
    counts = {f: sum(f in fitted.fusion.features for fitted in folds.values()) for f in features}
    print(f"... and in the {len(folds)} leave-one-source-out folds: {counts}")
    envelope = chosen[None].envelope
    edges = ", ".join(f"{e.cue} {'above' if e.above else 'below'} {e.edge:g}" for e in envelope.edges)
    print(f"Its live envelope on every source: margin {envelope.margin:g} IQR, edges: {edges or 'none'}")
    edge_counts: dict[str, int] = {}
    for fitted in folds.values():
        for edge in fitted.envelope.edges:
            edge_counts[edge.cue] = edge_counts.get(edge.cue, 0) + 1
    margins = sorted(fitted.envelope.margin for fitted in folds.values())
    print(f"... and in the folds: edges {edge_counts}, margins {margins}")
    live = [i for i in loso if i.label == "live"]
    attacks = [i for i in loso if i.label != "live" and i.label not in SYNTHETIC]
    print(
        f"(d) sent to an operator past the envelope: {sum(i.outside_envelope for i in live)}/{len(live)} live, "
        f"{sum(i.outside_envelope for i in attacks)}/{len(attacks)} attacks\n"
    )


def evaluate(measured: Sequence) -> None:
    features = recipe.FEATURES
    pair = default_rule(measured, SHIPPED_PAIR)
    loso = fusion_scores(measured, features, choose=True)
    setups = {
        "(a) model-free, default rule": default_rule(measured, "model_free"),
        "(b) MiniFASNet bundle as shipped": pair,
        "(b') MiniFASNet pair, not judging tight crops": default_rule(measured, "pair"),
        "(c) fusion, dev-fitted": fusion_scores(measured, features, dev_fitted=True, choose=True),
        "(d') the same without its live envelope": [replace(i, outside_envelope=False) for i in loso],
        "(d) fusion, leave-one-source-out": loso,
    }
    report_fits(features, loso)
    summary("Summary", setups)
    det("(d) fusion, leave-one-source-out", loso)
    det("(b) MiniFASNet bundle as shipped", pair)
    per_source({"(b) MiniFASNet bundle": pair, "(d) fusion LOSO": loso})
    ablation(measured, features)
    final = Rates.of(loso)
    worst = final.worst()
    print(
        f"PAD leave-one-source-out: BPCER {final.bpcer:.1%} APCER max {worst[1] if worst else 0:.1%} "
        f"({worst[0] if worst else '-'}) ACER {final.acer:.1%}"
    )


def frozen(data: Path, store: Path) -> None:
    """Score `data` with the store's models as shipped: the plugin's own decision, nothing fitted."""
    from appliance_plugin_quality.fusion import assess

    from appliance.sdk import AnalysisContext, MediaKind
    from appliance.sdk.testing import media_input, vision_service

    vision = vision_service(store)
    samples = recipe.read_samples(data)
    shipped, decided = [], set()
    for sample in samples:
        ctx = AnalysisContext({"liveness": 0.5}, vision=vision)
        media = media_input(sample.path)
        passive = assess(ctx, media, ctx.faces(media))
        decided.add(passive.decided_by)
        logit = None
        if passive.confidence_spoofing is not None:
            p = min(max(passive.confidence_spoofing, 1e-9), 1 - 1e-9)
            logit = math.log(p / (1 - p))
        video = media.kind is not MediaKind.IMAGE
        shipped.append(
            Scored(sample.name, sample.source, sample.label, video, logit, bool(passive.outside_live_envelope))
        )
        vision.forget(media.media_id)
    print(f"{len(samples)} media from {len({s.source for s in samples})} sources; decided by {sorted(decided)}\n")
    summary("Frozen: the bundle as shipped", {"shipped bundle": shipped})
    det("shipped bundle", shipped)
    per_source({"shipped bundle": shipped})
    rates = Rates.of(shipped)
    worst = rates.worst(min_media=1)
    print(
        f"PAD frozen: BPCER {rates.bpcer:.1%} APCER max {worst[1] if worst else 0:.1%} ({worst[0] if worst else '-'}) "
        f"ACER {((worst[1] if worst else 0) + rates.bpcer) / 2:.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = Path(os.environ.get("APPLIANCE_TEST_DATA") or REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=default_data, help="a directory with a manifest.csv")
    parser.add_argument("--models", type=Path, help="the published model files (default: the shared data's models/)")
    parser.add_argument("--frozen", action="store_true", help="score --data with the shipped bundle, fitting nothing")
    parser.add_argument("--store", type=Path, help="with --frozen: a model store holding the shipped bundle")
    parser.add_argument("--cache", type=Path, help="keep the measured cues in this JSON file and reuse them")
    args = parser.parse_args()
    models = args.models or default_data / "models"
    if not (args.data / "manifest.csv").is_file():
        sys.exit(f"pad_eval: {args.data / 'manifest.csv'} does not exist")
    if not args.frozen:
        measured = measure(args.data, models, args.cache)
        describe(measured)
        evaluate(measured)
        return
    if args.store is not None:
        frozen(args.data, args.store)
        return
    from appliance.sdk.testing import default_models

    with tempfile.TemporaryDirectory(prefix="pad-frozen-") as tmp:
        store = default_models(Path(tmp) / "models")
        recipe.build(models, default_data, store)
        frozen(args.data, store)


if __name__ == "__main__":
    main()
