"""The fusion model's live envelope, as its card describes it: which edges a media lies past."""

from __future__ import annotations

import numpy as np
import pytest
from appliance_plugin_quality.cues import ATTACK_ABOVE, Cue, CueName, attack_above
from appliance_plugin_quality.fusion import FUSION_TASK, EnvelopeEdge, FusionModel

from appliance.sdk import ModelHandle

PARAMS = {
    "features": ["pad:minifasnet-v2se", "gamut"],
    "fill": [0.0, 10.0],
    "coefficients": [1.0, -0.5],
    "intercept": -1.0,
    "envelope": {
        "margin_iqr": 0.0,
        "edges": [
            {"cue": "spectral", "outside": "above", "edge": 2.5},
            {"cue": "gamut", "outside": "below", "edge": 4.0},
            {"cue": "pad:syaringan-fas", "outside": "above", "edge": 3.0},
        ],
    },
}


class _Regression:
    """Stands in for the signed graph: the regression of PARAMS on its input vector."""

    def invoke(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        (x,) = inputs
        return [(x - np.array(PARAMS["fill"])) @ np.array(PARAMS["coefficients"]) + PARAMS["intercept"]]


def _fusion(params: dict = PARAMS) -> FusionModel:
    return FusionModel.of(ModelHandle("liveness-fusion", "1.0.0", "0" * 64, FUSION_TASK, params, _Regression()))


def test_a_media_past_an_edge_is_named_with_its_value_and_the_edge() -> None:
    fusion = _fusion()
    inside = {"spectral": Cue("spectral", 1.4), "gamut": Cue("gamut", 9.0)}
    assert fusion.outside_envelope(inside) == []
    moire = {**inside, "spectral": Cue("spectral", 3.1)}
    assert fusion.outside_envelope(moire) == [{"cue": "spectral", "outside": "above", "edge": 2.5, "value": 3.1}]
    grey = {**inside, "gamut": Cue("gamut", 2.0)}  # fewer colours than any live face: below its edge
    assert [o["cue"] for o in fusion.outside_envelope(grey)] == ["gamut"]
    # a cue the media cannot give (a tight crop without surroundings, a PAD model that abstained) is past no edge
    assert fusion.outside_envelope({"gamut": Cue("gamut", 9.0)}) == []


def test_the_pad_models_it_runs_are_those_of_its_regression_and_of_its_envelope() -> None:
    assert _fusion().pad_models == ("minifasnet-v2se", "syaringan-fas")
    without = {k: v for k, v in PARAMS.items() if k != "envelope"}
    assert _fusion(without).envelope == () and _fusion(without).pad_models == ("minifasnet-v2se",)


@pytest.mark.parametrize(
    ("edge", "error"),
    [
        ({"cue": "gamut", "outside": "left", "edge": 1.0}, "outside must be above or below"),
        ({"cue": "gammut", "outside": "below", "edge": 1.0}, "not a PAD model's cue nor an image cue"),
        ({"cue": "planarity", "outside": "above", "edge": 1.0}, "not a PAD model's cue nor an image cue"),
    ],
)
def test_an_edge_the_plugin_cannot_judge_is_refused(edge: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        _fusion({**PARAMS, "envelope": {"margin_iqr": 0.0, "edges": [edge]}})


def test_an_edge_round_trips_through_the_card() -> None:
    edge = EnvelopeEdge("colour_cast", True, 0.4)
    assert EnvelopeEdge.from_params(edge.to_params()) == edge
    assert edge.outside(0.41) and not edge.outside(0.4)


def test_every_image_cue_has_an_attack_side_and_the_video_cues_none() -> None:
    image_cues = set(CueName) - {CueName.PLANARITY, CueName.MICRO_MOTION}
    assert set(ATTACK_ABOVE) == image_cues
    assert attack_above("pad:any-model") is True and attack_above(CueName.PLANARITY) is None
