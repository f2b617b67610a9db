"""Whether this appliance can vouch for a live face: the presentation-attack models and the fusion
its model store holds active (docs/liveness.md). Without a PAD model, QUALITY sends every face it
finds no attack on to an operator (`pad_model_missing`); `/api/version` and `appliance doctor` say so,
and with the fusion, the error rates its recipe measured on sources it never saw (`held_out`)."""

from __future__ import annotations

from typing import Any

import msgspec

from appliance.runtime import ModelStore, Task

__all__ = ["LIVENESS_BUNDLE_HINT", "HeldOutRates", "LivenessModels", "liveness_models"]

#: What a site installs to have a PAD model (a vendor builds it with packaging/recipes/liveness.py).
LIVENESS_BUNDLE_HINT = "install the liveness bundle (appliance-update install liveness.bundle; docs/liveness.md)"


class HeldOutRates(msgspec.Struct, frozen=True, kw_only=True):
    """The fusion's error rates on sources it never saw: its recipe's whole procedure scored
    leave-one-source-out on the media it was built from (the fusion card's `held_out`)."""

    sources: int
    #: Share of the live media not accepted (declined, or sent to an operator).
    bpcer: float
    #: Share of each attack type's media accepted as live.
    apcer: dict[str, float]

    def describe(self) -> str:
        rates = ", ".join(f"{kind} {rate:.1%}" for kind, rate in sorted(self.apcer.items(), key=lambda kv: -kv[1]))
        return f"BPCER {self.bpcer:.1%}, APCER {rates or 'none measured'} ({self.sources} sources, each left out)"


class LivenessModels(msgspec.Struct, frozen=True, kw_only=True):
    """The active presentation-attack models and fusion of a model store, as `name@version`, and
    the fusion's held-out error rates (None without a fusion, or when its card holds none)."""

    pad_models: tuple[str, ...]
    fusion: str | None
    held_out: HeldOutRates | None = None

    @property
    def pad_model_missing(self) -> bool:
        return not self.pad_models

    def to_dict(self) -> dict[str, Any]:
        return {
            "pad_models": list(self.pad_models),
            "fusion": self.fusion,
            "pad_model_missing": self.pad_model_missing,
            "decides_by": "operator" if self.pad_model_missing else "fusion" if self.fusion else "default_rule",
            "held_out": msgspec.to_builtins(self.held_out),
        }


def liveness_models(store: ModelStore) -> LivenessModels:
    found: dict[Task, list[str]] = {Task.PRESENTATION_ATTACK: [], Task.PRESENTATION_ATTACK_FUSION: []}
    for name in store.names():
        version = store.active_version(name)
        if version is None:
            continue
        card = store.card(name, version)
        if card.task in found:
            found[Task(card.task)].append(f"{name}@{version}")
    fusions = sorted(found[Task.PRESENTATION_ATTACK_FUSION])
    fusion = fusions[0] if fusions else None
    held_out = None
    if fusion:
        name, version = fusion.split("@", 1)
        held_out = _held_out(store.card(name, version).params.get("held_out"))
    return LivenessModels(pad_models=tuple(sorted(found[Task.PRESENTATION_ATTACK])), fusion=fusion, held_out=held_out)


def _held_out(params: Any) -> HeldOutRates | None:
    """A card's `held_out`, or None where it has none (a bundle built before the recipe measured it)
    or one of another shape: the figure is information, never a reason to fail."""
    try:
        return None if params is None else msgspec.convert(params, HeldOutRates)
    except msgspec.ValidationError:
        return None
