"""The distance-to-confidence mapping BIOMETRY and COLLECTION share: monotone, anchored where documented."""

from __future__ import annotations

import numpy as np
import pytest

from appliance.sdk import CALIBRATIONS, calibration_for


def test_anchors_and_monotony() -> None:
    dlib = calibration_for("dlib-resnet-v1")
    assert dlib.confidence(0.60) == pytest.approx(0.85)
    assert dlib.confidence(0.87) == pytest.approx(0.05)
    assert dlib.confidence(0.0) > 0.999 and dlib.confidence(5.0) < 1e-6
    values = [dlib.confidence(d) for d in np.linspace(0, 2, 201)]
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


def test_distance_at_inverts_confidence() -> None:
    dlib = calibration_for("dlib-resnet-v1")
    for distance in (0.1, 0.6, 0.87, 1.3):
        assert dlib.distance_at(dlib.confidence(distance)) == pytest.approx(distance)
    with pytest.raises(ValueError, match="strictly between"):
        dlib.distance_at(1.0)


def test_unknown_space_is_refused() -> None:
    with pytest.raises(ValueError, match="no calibration"):
        calibration_for("some-other-net")
    assert "dlib-resnet-v1" in CALIBRATIONS


def test_dlib_has_a_default_and_a_strict_operating_point() -> None:
    dlib = calibration_for("dlib-resnet-v1")
    default, strict = dlib.operating_point("default"), dlib.operating_point("strict")
    assert (default.target_fmr, default.distance) == (1e-3, dlib.match_distance)
    assert strict.target_fmr == 1e-4 and strict.distance < default.distance
    assert dlib.confidence(strict.distance) > 0.85
