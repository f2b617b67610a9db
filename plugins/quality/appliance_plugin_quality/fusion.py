"""Passive liveness of one media: the PAD model slot and the model-free signals, fused.

    track = ctx.faces(media, max_frames)                # first: the frames it decodes are kept
    frames = dict(ctx.frames(media, max_frames))
    passive = assess(ctx, media, track, threshold=ctx.thresholds.get("liveness", 0.5))
    passive.confidence_spoofing, passive.is_attack, passive.to_dict()

The rule (docs/liveness.md, "Fusion"): every source gives attack evidence as log-odds, clipped to its
own range and weighted; `confidence_spoofing` is the logistic of their sum. Sources that can only
catch an attack (a moire peak, a face that never moves) may add much for "attack" but little for
"live", so that their silence does not outvote a PAD model.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.sdk import AnalysisContext, FaceTrack, MediaInput

from .pad import TASK, PadResult, run_pad
from .signals import Signal, micro_motion, planarity, static_signals

__all__ = ["RULES", "Passive", "Rule", "assess", "fuse"]


@dataclass(frozen=True, slots=True)
class Rule:
    weight: float
    #: Range of the source's attack log-odds before weighting: (towards live, towards attack).
    low: float
    high: float


#: Source -> rule. `pad`: the PAD models' fused p_live (attack log-odds = -live log-odds).
RULES: Mapping[str, Rule] = {
    "pad": Rule(1.0, -6.0, 6.0),
    "planarity": Rule(1.0, -3.0, 3.0),
    "micro_motion": Rule(0.4, -2.5, 1.0),
    "spectral": Rule(0.7, -0.5, 3.0),
    "specular": Rule(0.4, -0.5, 2.0),
}

#: At most this many frames of the track go through the PAD models (evenly spread).
PAD_FRAMES = 8


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def fuse(pad_p_live: float | None, signals: Sequence[Signal]) -> tuple[float | None, dict[str, float]]:
    """`confidence_spoofing` in [0, 1] (None with no source at all) and each source's weighted term."""
    terms: dict[str, float] = {}
    if pad_p_live is not None:
        rule = RULES["pad"]
        terms["pad"] = rule.weight * min(max(-_logit(pad_p_live), rule.low), rule.high)
    for signal in signals:
        rule = RULES[signal.name]
        terms[signal.name] = rule.weight * min(max(_logit(signal.score), rule.low), rule.high)
    if not terms:
        return None, terms
    return 1.0 / (1.0 + math.exp(-sum(terms.values()))), terms


@dataclass(slots=True)
class Passive:
    """The passive verdict on one media."""

    confidence_spoofing: float | None
    #: At or above the site's liveness threshold; None when nothing could be judged (no face).
    is_attack: bool | None
    threshold: float
    pad: PadResult
    signals: list[Signal]
    terms: dict[str, float]
    #: Milliseconds per stage: `pad`, `static`, `motion`.
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def detectors(self) -> list[str]:
        """Every source that gave a verdict: `name@version` of each PAD model that ran, then the signals."""
        return self.pad.ran + [s.name for s in self.signals]

    def to_dict(self) -> dict[str, Any]:
        return {
            "confidence_spoofing": None if self.confidence_spoofing is None else round(self.confidence_spoofing, 4),
            "is_attack": self.is_attack,
            "threshold": self.threshold,
            "detectors": self.detectors,
            "pad_models": [d.to_dict() for d in self.pad.detectors],
            "pad_p_live": None if self.pad.p_live is None else round(self.pad.p_live, 4),
            "signals": {s.name: s.to_dict() for s in self.signals},
            "terms": {k: round(v, 3) for k, v in self.terms.items()},
            "timings_ms": {k: round(v, 2) for k, v in self.timings_ms.items()},
        }


def _spread(items: Sequence[Any], count: int) -> list[Any]:
    if len(items) <= count:
        return list(items)
    picks = np.linspace(0, len(items) - 1, count).round().astype(int)
    return [items[i] for i in sorted(set(picks.tolist()))]


def assess(
    ctx: AnalysisContext,
    media: MediaInput,
    track: FaceTrack,
    *,
    threshold: float = 0.5,
    pad_frames: int = PAD_FRAMES,
    use_models: bool = True,
) -> Passive:
    """Run the PAD models (`ctx.models("presentation_attack")`, unless `use_models` is false) and the
    model-free signals on the track's faces, and fuse them. The frames are `ctx.frames(media,
    track.max_frames)`, the sampling the track was computed on."""
    timings: dict[str, float] = {}
    frames = dict(ctx.frames(media, track.max_frames))
    with_face = [f for f in track.frames if f.face is not None and f.index in frames]

    started = time.perf_counter()
    models = ctx.models(TASK) if use_models else []
    faces = [(frames[f.index], f.face.box) for f in _spread(with_face, pad_frames)]  # type: ignore[union-attr]
    pad = run_pad(models, faces)
    timings["pad"] = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    signals: list[Signal] = []
    best = track.best_frame
    if best is not None and best.face is not None and best.index in frames:
        signals.extend(static_signals(frames[best.index], best.face.box))
    timings["static"] = (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    landmarks = [f.landmarks for f in with_face if f.landmarks is not None]
    for signal in (planarity(landmarks), micro_motion(landmarks)):
        if signal is not None:
            signals.append(signal)
    timings["motion"] = (time.perf_counter() - started) * 1000

    confidence, terms = fuse(pad.p_live, signals)
    is_attack = None if confidence is None else confidence >= threshold
    return Passive(confidence, is_attack, threshold, pad, signals, terms, timings)
