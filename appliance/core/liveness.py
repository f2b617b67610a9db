"""Whether this appliance can vouch for a live face: the presentation-attack models and the fusion
its model store holds active (docs/liveness.md). Without a PAD model, QUALITY sends every face it
finds no attack on to an operator (`pad_model_missing`); `/api/version` and `appliance doctor` say so."""

from __future__ import annotations

from typing import Any

import msgspec

from appliance.runtime import ModelStore, Task

__all__ = ["LIVENESS_BUNDLE_HINT", "LivenessModels", "liveness_models"]

#: What a site installs to have a PAD model (a vendor builds it with packaging/recipes/liveness.py).
LIVENESS_BUNDLE_HINT = "install the liveness bundle (appliance-update install liveness.bundle; docs/liveness.md)"


class LivenessModels(msgspec.Struct, frozen=True, kw_only=True):
    """The active presentation-attack models and fusion of a model store, as `name@version`."""

    pad_models: tuple[str, ...]
    fusion: str | None

    @property
    def pad_model_missing(self) -> bool:
        return not self.pad_models

    def to_dict(self) -> dict[str, Any]:
        return {
            "pad_models": list(self.pad_models),
            "fusion": self.fusion,
            "pad_model_missing": self.pad_model_missing,
            "decides_by": "operator" if self.pad_model_missing else "fusion" if self.fusion else "default_rule",
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
    return LivenessModels(
        pad_models=tuple(sorted(found[Task.PRESENTATION_ATTACK])), fusion=fusions[0] if fusions else None
    )
