"""What `/api/version` and `appliance doctor` read of a model store's liveness models: the active PAD
models, the fusion, and the error rates its recipe measured on sources it never saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from appliance.core.liveness import HeldOutRates, liveness_models
from appliance.runtime import ModelStore

HELD_OUT = {"sources": 17, "bpcer": 0.107143, "apcer": {"print": 0.5, "screen": 0.267717}}


def _store(default_models_root: Path, tmp_path: Path, fusion_params: dict[str, Any]) -> ModelStore:
    """A store holding a PAD model and a fusion, each a real model file under a card that says so."""
    defaults = ModelStore(default_models_root)
    card = defaults.card("blazeface-short")
    store = ModelStore(tmp_path / "models")
    for name, task, params in (
        ("site-pad", "presentation_attack", {}),
        ("site-fusion", "presentation_attack_fusion", fusion_params),
    ):
        installed = msgspec.structs.replace(card, name=name, task=task, params=params)
        store.install(installed, {card.files[0].name: defaults.file_path(card)}, activate=True)
    return store


def test_the_fusions_held_out_rates_reach_the_version_endpoint(default_models_root: Path, tmp_path: Path) -> None:
    models = liveness_models(_store(default_models_root, tmp_path, {"held_out": HELD_OUT}))
    assert models.held_out == HeldOutRates(sources=17, bpcer=0.107143, apcer={"print": 0.5, "screen": 0.267717})
    version = models.to_dict()
    assert version["decides_by"] == "fusion" and version["held_out"] == HELD_OUT
    assert models.held_out.describe() == "BPCER 10.7%, APCER print 50.0%, screen 26.8% (17 sources, each left out)"


def test_a_card_without_a_sound_held_out_figure_reports_none(default_models_root: Path, tmp_path: Path) -> None:
    """A bundle built before the recipe measured it, or a figure of another shape: no figure, no failure."""
    assert liveness_models(_store(default_models_root, tmp_path / "older", {})).to_dict()["held_out"] is None
    odd = liveness_models(_store(default_models_root, tmp_path / "odd", {"held_out": {"bpcer": "low"}}))
    assert odd.fusion is not None and odd.held_out is None
