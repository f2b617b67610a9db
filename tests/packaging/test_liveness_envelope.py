"""The liveness recipe's live envelope: the edges past which no training live face went, chosen on
sources held out, on labelled cue values made here (no media needed)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.recipes import load_recipe

recipe = load_recipe("liveness")

PAD = "pad:minifasnet-v2se"
SOURCES = [f"source-{i}" for i in range(6)]
PER_CLASS = 12
#: The sources whose replays show a moire no live face has; the PAD model passes the last one's.
MOIRE_SOURCES = {"source-4", "source-5"}


def _labelled() -> tuple[list[dict[str, float]], list[str], list[str]]:
    """Rows of cue values: the PAD model separates every source's attacks but the last one's; the
    spectral cue is a live face's (1.1-2.0) except in the replays of MOIRE_SOURCES (3-3.5); gamut
    is noise."""
    rng = np.random.default_rng(11)
    rows, labels, sources = [], [], []
    for source in SOURCES:
        for attack in (False, True):
            for _ in range(PER_CLASS):
                fooled = attack and source == SOURCES[-1]
                pad = rng.normal(2.0 if attack and not fooled else -2.0, 1.0)
                moire = attack and source in MOIRE_SOURCES
                spectral = rng.uniform(3.0, 3.5) if moire else rng.uniform(1.1, 2.0)
                rows.append({PAD: float(pad), "spectral": float(spectral), "gamut": float(rng.normal(10, 2))})
                labels.append("screen" if attack else "live")
                sources.append(source)
    return rows, labels, sources


def test_a_cue_that_catches_the_attacks_the_fusion_passes_on_a_source_held_out_is_chosen() -> None:
    rows, labels, sources = _labelled()
    envelope = recipe.choose_envelope(rows, labels, sources, [PAD], candidates=[PAD, "spectral", "gamut"])
    assert [edge.cue for edge in envelope.edges] == ["spectral"]
    (edge,) = envelope.edges
    # the edge is the most attack-like live value plus the margin chosen: no training live face is past it
    live = [row["spectral"] for row, label in zip(rows, labels, strict=True) if label == "live"]
    assert edge.above and envelope.margin in recipe.ENVELOPE_MARGINS and edge.edge >= max(live)
    assert not any(envelope.outside(row) for row, label in zip(rows, labels, strict=True) if label == "live")
    assert envelope.outside({PAD: -2.0, "spectral": 3.2, "gamut": 10.0})
    assert not envelope.outside({PAD: -2.0, "spectral": 1.5, "gamut": 10.0})
    assert not envelope.outside({PAD: -2.0, "gamut": 10.0})  # a cue the media cannot give is past no edge
    assert envelope.params() == {
        "margin_iqr": envelope.margin,
        "edges": [{"cue": "spectral", "outside": "above", "edge": edge.edge}],
    }


def test_no_edge_is_drawn_where_the_fusion_already_decides() -> None:
    rows, labels, sources = _labelled()
    kept = [i for i, source in enumerate(sources) if source not in MOIRE_SOURCES]
    envelope = recipe.choose_envelope(
        [rows[i] for i in kept], [labels[i] for i in kept], [sources[i] for i in kept], [PAD], [PAD, "spectral"]
    )
    assert envelope.edges == ()


def test_a_low_side_cue_has_its_edge_below_the_live_faces() -> None:
    rows = [{"gamut": v} for v in (8.0, 9.0, 10.0, 11.0, 3.0)]
    edges = recipe.live_edges(rows, [False, False, False, False, True], ["gamut"], margin=1.0)
    # gamut: fewer colours is an attack; the edge lies below the least colourful live face by one IQR (1.5)
    assert not edges["gamut"].above and edges["gamut"].edge == pytest.approx(8.0 - 1.5)
    with pytest.raises(ValueError, match="no attack side"):
        recipe.live_edges(rows, [False] * 5, ["planarity"], margin=0.0)


def test_the_whole_procedure_is_deterministic() -> None:
    rows, labels, sources = _labelled()
    first = recipe.fit_liveness(rows, labels, sources, [PAD, "spectral", "gamut"])
    again = recipe.fit_liveness(rows, labels, sources, [PAD, "spectral", "gamut"])
    assert first == again and PAD in first.fusion.features
    assert first.outside(rows[-1:]) == [True]  # the last source's replay, which the PAD model passes


def test_the_held_out_figure_decides_each_source_by_what_was_fitted_on_the_others() -> None:
    rows, labels, sources = _labelled()
    fooled = PER_CLASS / (PER_CLASS * len(SOURCES))  # the last source's replays, which the PAD model passes
    without_moire = recipe.held_out_rates(rows, labels, sources, [PAD, "gamut"])
    assert without_moire is not None and without_moire["sources"] == len(SOURCES)
    assert set(without_moire["apcer"]) == {"screen"} and without_moire["apcer"]["screen"] >= fooled
    # with the moire among the candidates, the envelope fitted on the other sources catches them
    with_moire = recipe.held_out_rates(rows, labels, sources, [PAD, "spectral", "gamut"])
    assert with_moire is not None and with_moire["apcer"]["screen"] < fooled
    assert 0 <= with_moire["bpcer"] <= 0.1
    two = [i for i, source in enumerate(sources) if source in SOURCES[:2]]
    assert recipe.held_out_rates([rows[i] for i in two], [labels[i] for i in two], [sources[i] for i in two]) is None
