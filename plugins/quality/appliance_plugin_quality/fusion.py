"""Passive liveness of one media: every cue measured, then one decision.

    track = ctx.faces(media, max_frames)                # first: the frames it decodes are kept
    passive = assess(ctx, media, track, threshold=ctx.thresholds.get("liveness", 0.5))
    passive.confidence_spoofing, passive.is_attack, passive.pad_model_missing, passive.to_dict()

Two ways to decide (docs/liveness.md, "Fusion"):

* the **fusion model** of the store (task `presentation_attack_fusion`, built and signed by the
  liveness recipe, packaging/recipes/liveness.py): a logistic regression over the cues, fitted on
  sources it is then not scored on (bench/pad_eval.py), with its operating point at 0.5; video cues
  it was not fitted on are added as the fixed terms of the default rule;
* without one, the **default rule**: each source's evidence as clipped, weighted log-odds, summed.

Either way `confidence_spoofing` is the logistic of the sum, and at or above the site's liveness
threshold the media is an attack. A fusion model's card may also carry the **live envelope**: for a
few cues, an edge past which no live face of its training media went (the most attack-like live
value, plus a margin); a face the fusion would pass but that lies past an edge is like no live face
it has seen, and goes to an operator (`outside_live_envelope`).

A media that no PAD model could score (none installed, or `use_pad_models` false) has only
model-free cues, which can find an attack but cannot vouch for a live face: it is never passed on
them alone (`pad_model_missing`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.sdk import AnalysisContext, FaceTrack, MediaInput, ModelHandle

from .cues import PAD_PREFIX, Cue, CueName, attack_above
from .forensics import image_cues
from .motion import micro_motion, planarity
from .pad import TASK, PadResult, run_pad

__all__ = [
    "DEFAULT_RULE",
    "FUSION_TASK",
    "OUTSIDE_LIVE_ENVELOPE",
    "PAD_MODEL_MISSING",
    "VIDEO_CUES",
    "EnvelopeEdge",
    "FusionModel",
    "Passive",
    "Rule",
    "assess",
    "default_rule_logit",
    "default_rule_terms",
    "measure",
]

#: The task of the fusion model's card.
FUSION_TASK = "presentation_attack_fusion"
#: Why a media without any PAD model's score goes to an operator.
PAD_MODEL_MISSING = "pad_model_missing"
#: Why a media the fusion passes, but past an edge of its live envelope, goes to an operator.
OUTSIDE_LIVE_ENVELOPE = "outside_live_envelope"
#: At most this many frames of the track are measured (evenly spread).
PAD_FRAMES = 8


@dataclass(frozen=True, slots=True)
class Rule:
    """A cue's term in the default rule: weight x clip((value - centre) / width, low, high), in
    attack log-odds (a negative width: a larger value is live-like)."""

    centre: float
    width: float
    weight: float
    low: float
    high: float

    def term(self, value: float) -> float:
        return self.weight * min(max((value - self.centre) / self.width, self.low), self.high)


#: Source -> rule. The ranges are asymmetric on purpose: a cue that can only catch an attack may add
#: much towards "attack" but little towards "live", so its silence cannot outvote a PAD model; a PAD
#: model's verdict (up to +-6) outweighs any single model-free cue. `pad` is the PAD models' mean
#: p_live, as attack log-odds.
DEFAULT_RULE: Mapping[str, Rule] = {
    "pad": Rule(0.0, 1.0, 1.0, -6.0, 6.0),
    CueName.PLANARITY: Rule(math.log10(0.012), -0.15, 1.0, -3.0, 3.0),
    CueName.MICRO_MOTION: Rule(1.0, -0.2, 0.4, -2.5, 1.0),
    CueName.SPECTRAL: Rule(1.9, 0.15, 0.7, -0.5, 3.0),
    CueName.GLARE: Rule(0.08, 0.02, 0.4, -0.5, 2.0),
    CueName.FLATNESS: Rule(1.2, -0.3, 0.4, -0.5, 2.0),
}
#: Cues the default rule counts as one source, by their strongest term: glare and a washed-out face
#: are two signs of one thing (a glossy surface), not two pieces of evidence.
DEFAULT_RULE_GROUPS: Mapping[str, tuple[str, ...]] = {"specular": (CueName.GLARE, CueName.FLATNESS)}
#: The cues only a video gives: the fusion model adds their default-rule terms.
VIDEO_CUES = (CueName.PLANARITY, CueName.MICRO_MOTION)


def _logistic(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-min(max(x, -700.0), 700.0)))


@dataclass(frozen=True, slots=True)
class EnvelopeEdge:
    """One edge of the live envelope: no live face of the training media had `cue` past `edge` on
    its attack side (`above` or below)."""

    cue: str
    above: bool
    edge: float

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> EnvelopeEdge:
        cue, side = str(params["cue"]), params["outside"]
        if attack_above(cue) is None:  # a misspelt cue would never be measured, so never flag a face
            raise ValueError(f"envelope edge of {cue}: not a PAD model's cue nor an image cue")
        if side not in ("above", "below"):
            raise ValueError(f"envelope edge of {cue}: outside must be above or below, not {side!r}")
        return cls(cue, side == "above", float(params["edge"]))

    def to_params(self) -> dict[str, Any]:
        return {"cue": self.cue, "outside": "above" if self.above else "below", "edge": self.edge}

    def outside(self, value: float) -> bool:
        return value > self.edge if self.above else value < self.edge


@dataclass(frozen=True, slots=True)
class FusionModel:
    """The store's fusion model: its card names the cues it reads (`features`), the value that
    stands in for a cue the media cannot give (`fill`, the training mean: a neutral term) and its
    coefficients, which the result uses to show each cue's term; the decision is the signed graph's."""

    handle: ModelHandle
    features: tuple[str, ...]
    fill: tuple[float, ...]
    coefficients: tuple[float, ...]
    intercept: float
    #: The live envelope's edges (none: a card without one).
    envelope: tuple[EnvelopeEdge, ...] = ()

    @classmethod
    def of(cls, handle: ModelHandle) -> FusionModel:
        params = handle.params
        features = tuple(str(f) for f in params["features"])
        fill = tuple(float(v) for v in params["fill"])
        coefficients = tuple(float(v) for v in params["coefficients"])
        if not len(features) == len(fill) == len(coefficients):
            raise ValueError(f"fusion model {handle.name}: features, fill and coefficients differ in length")
        envelope = tuple(EnvelopeEdge.from_params(e) for e in (params.get("envelope") or {}).get("edges", []))
        return cls(handle, features, fill, coefficients, float(params["intercept"]), envelope)

    @property
    def ref(self) -> str:
        return f"{self.handle.name}@{self.handle.version}"

    @property
    def pad_models(self) -> tuple[str, ...]:
        """The PAD models whose cues it reads, in its regression or its envelope."""
        cues = dict.fromkeys([*self.features, *(edge.cue for edge in self.envelope)])
        return tuple(c.removeprefix(PAD_PREFIX) for c in cues if c.startswith(PAD_PREFIX))

    def missing_models(self, installed: Collection[str]) -> list[str]:
        """The PAD models it reads that are not among `installed`. (One that is installed and did not
        judge the face, for want of the surroundings it needs, gives no cue: its fill stands in.)"""
        return [name for name in self.pad_models if name not in installed]

    def vector(self, cues: Mapping[str, Cue]) -> np.ndarray:
        return np.array(
            [[cues[f].value if f in cues else fill for f, fill in zip(self.features, self.fill, strict=True)]],
            dtype=np.float32,
        )

    def terms(self, cues: Mapping[str, Cue]) -> dict[str, float]:
        """Each cue's part of the attack log-odds: coefficient x (value - fill)."""
        x = self.vector(cues)[0]
        return {
            f: float(c * (v - fill))
            for f, c, v, fill in zip(self.features, self.coefficients, x, self.fill, strict=True)
            if f in cues
        }

    def attack_logit(self, cues: Mapping[str, Cue]) -> float:
        return float(np.asarray(self.handle.run([self.vector(cues)])[0]).reshape(-1)[0])

    def outside_envelope(self, cues: Mapping[str, Cue]) -> list[dict[str, Any]]:
        """The envelope's edges the media's cues lie past, each with the cue's value (a cue the
        media cannot give is past no edge)."""
        return [
            {**edge.to_params(), "value": round(cues[edge.cue].value, 5)}
            for edge in self.envelope
            if edge.cue in cues and edge.outside(cues[edge.cue].value)
        ]


@dataclass(slots=True)
class Passive:
    """The passive verdict on one media."""

    confidence_spoofing: float | None
    #: At or above the site's liveness threshold; None when nothing could be judged (no face).
    is_attack: bool | None
    threshold: float
    pad: PadResult
    cues: list[Cue]
    #: Each source's term in the attack log-odds.
    terms: dict[str, float]
    #: `fusion:<name>@<version>` or `default_rule`.
    decided_by: str
    #: A face was found and measured (False: no sampled frame has a face).
    face_measured: bool = True
    #: Why the fusion model was not used, when one is installed.
    fusion_unavailable: str | None = None
    #: The fusion model's live envelope edges the media lies past (`FusionModel.outside_envelope`).
    outside_live_envelope: list[dict[str, Any]] = field(default_factory=list)
    #: Milliseconds per stage: `pad`, `image`, `motion`, `fusion`.
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def pad_model_missing(self) -> bool:
        """No PAD model scored the face: the model-free cues may find an attack, never vouch for a live face."""
        return self.face_measured and not self.pad.ran

    @property
    def detectors(self) -> list[str]:
        """Every source that gave a verdict: `name@version` of each PAD model that ran, then the other cues."""
        return self.pad.ran + [c.name for c in self.cues if not c.name.startswith(PAD_PREFIX)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "confidence_spoofing": None if self.confidence_spoofing is None else round(self.confidence_spoofing, 4),
            "is_attack": self.is_attack,
            "threshold": self.threshold,
            "decided_by": self.decided_by,
            "fusion_unavailable": self.fusion_unavailable,
            "pad_model_missing": self.pad_model_missing,
            "outside_live_envelope": self.outside_live_envelope,
            "detectors": self.detectors,
            "pad_models": [d.to_dict() for d in self.pad.detectors],
            "pad_p_live": None if self.pad.p_live is None else round(self.pad.p_live, 4),
            "cues": {c.name: c.to_dict() for c in self.cues},
            "terms": {k: round(v, 3) for k, v in self.terms.items()},
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def _spread(items: Sequence[Any], count: int) -> list[Any]:
    if len(items) <= count:
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


@dataclass(slots=True)
class Measured:
    """Every cue of one media: the PAD models' and the model-free ones."""

    pad: PadResult
    cues: list[Cue]
    timings_ms: dict[str, float]

    @property
    def by_name(self) -> dict[str, Cue]:
        return {c.name: c for c in self.cues}


def measure(
    ctx: AnalysisContext,
    media: MediaInput,
    track: FaceTrack,
    *,
    models: Sequence[ModelHandle] | None = None,
    frames: int = PAD_FRAMES,
) -> Measured | None:
    """Every cue of `media` on its track's faces (None when no sampled frame has a face), with the
    PAD models `models` (default: every one the store has). The frames are `ctx.frames(media,
    track.max_frames)`, the sampling the track was computed on."""
    decoded = dict(ctx.frames(media, track.max_frames))
    with_face = [f for f in track.frames if f.face is not None and f.index in decoded]
    if not with_face:
        return None
    timings: dict[str, float] = {}
    faces = [(decoded[f.index], f.face.box) for f in _spread(with_face, frames) if f.face is not None]

    started = time.perf_counter()
    pad = run_pad(ctx.models(TASK) if models is None else models, faces, max_crops=frames)
    timings["pad"] = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    best = track.best_frame if track.best_frame is not None and track.best_frame.index in decoded else with_face[0]
    cues = [*pad.cues, *image_cues(decoded[best.index], best.face.box)]  # type: ignore[union-attr]
    timings["image"] = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    landmarks = [f.landmarks for f in with_face if f.landmarks is not None]
    moving = (planarity(landmarks), micro_motion(landmarks))
    cues += [cue for cue in moving if cue is not None]
    timings["motion"] = (time.perf_counter() - started) * 1000
    return Measured(pad, cues, timings)


def default_rule_terms(
    measured: Measured, names: Sequence[str] = tuple(DEFAULT_RULE), pad_models: Collection[str] | None = None
) -> dict[str, float]:
    """The default rule's term of each source in `names` the media gave; `pad` is the mean p_live of
    the PAD models that ran (only those named in `pad_models`, when given)."""
    terms: dict[str, float] = {}
    scored = [d.p_live for d in measured.pad.detectors if d.p_live is not None]
    if pad_models is not None:
        scored = [d.p_live for d in measured.pad.detectors if d.p_live is not None and d.name in pad_models]
    if "pad" in names and scored:
        p = min(max(float(np.mean(scored)), 1e-6), 1 - 1e-6)
        terms["pad"] = DEFAULT_RULE["pad"].term(-math.log(p / (1 - p)))
    by_name = measured.by_name
    for name in names:
        if name != "pad" and name in by_name:
            terms[name] = DEFAULT_RULE[name].term(by_name[name].value)
    for group, members in DEFAULT_RULE_GROUPS.items():
        if found := [terms.pop(m) for m in members if m in terms]:
            terms[group] = max(found)
    return terms


def default_rule_logit(measured: Measured, pad_models: Collection[str]) -> float | None:
    """The default rule's attack log-odds with only the PAD models named (none: model-free), None
    when no source spoke."""
    terms = default_rule_terms(measured, pad_models=pad_models)
    return sum(terms.values()) if terms else None


def fusion_model(ctx: AnalysisContext) -> FusionModel | None:
    """The store's fusion model (the first by name, if several are active), or None."""
    handles = ctx.models(FUSION_TASK)
    return FusionModel.of(handles[0]) if handles else None


def assess(
    ctx: AnalysisContext,
    media: MediaInput,
    track: FaceTrack,
    *,
    threshold: float = 0.5,
    use_models: bool = True,
) -> Passive:
    """Measure every cue of `media` and decide (see the module's docstring). With a fusion model, only
    the PAD models it reads run: one the bundle carries for nothing would only cost time."""
    installed = ctx.models(TASK) if use_models else []
    model = fusion_model(ctx) if use_models else None
    unavailable = None
    if model is not None and (missing := model.missing_models({m.name for m in installed})):
        unavailable = f"PAD models it reads are not installed: {', '.join(missing)}"
        model = None
    if model is not None:
        installed = [m for m in installed if m.name in model.pad_models]
    measured = measure(ctx, media, track, models=installed)
    if measured is None:
        return Passive(None, None, threshold, PadResult([], None), [], {}, "default_rule", face_measured=False)
    started = time.perf_counter()
    if model is not None and (failed := [d.name for d in measured.pad.detectors if d.error is not None]):
        unavailable = f"PAD models it reads failed: {', '.join(failed)}"
        model = None
    outside: list[dict[str, Any]] = []
    if model is not None:
        terms = model.terms(measured.by_name)
        video = default_rule_terms(measured, VIDEO_CUES)
        logit = model.attack_logit(measured.by_name) + sum(video.values())
        terms.update(video)
        decided_by = f"fusion:{model.ref}"
        outside = model.outside_envelope(measured.by_name)
    else:
        terms = default_rule_terms(measured)
        logit = sum(terms.values())
        decided_by = "default_rule"
    measured.timings_ms["fusion"] = (time.perf_counter() - started) * 1000
    confidence = _logistic(logit) if terms else None  # a face too small for any cue: nothing to judge
    return Passive(
        confidence,
        None if confidence is None else confidence >= threshold,
        threshold,
        measured.pad,
        measured.cues,
        terms,
        decided_by,
        fusion_unavailable=unavailable,
        outside_live_envelope=outside,
        timings_ms=measured.timings_ms,
    )
