"""The face embedding recipe calibrates its thresholds on the comparisons a site makes: a face that
BIOMETRY would not compare (too small) gives no vector, and a pair without two comparable faces is
no comparison, so it loosens no threshold."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.support.media_samples import astronaut_rgb
from tests.support.recipes import load_recipe

recipe = load_recipe("face_embedding")


def _write(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def test_a_face_too_small_to_compare_gives_no_vector(default_models_root: Path, tmp_path: Path) -> None:
    astronaut = astronaut_rgb()
    small = np.full((480, 640, 3), 128, np.uint8)
    small[100:350, 200:450] = cv2.resize(astronaut, (250, 250), interpolation=cv2.INTER_AREA)  # a face under 60 px
    embed = recipe.embedder_on(default_models_root, "dlib-resnet")

    vector = embed(_write(tmp_path / "astronaut.png", astronaut))
    assert vector is not None and vector.shape == (128,)
    assert embed(_write(tmp_path / "small.png", small)) is None


def test_a_pair_without_two_comparable_faces_loosens_no_threshold() -> None:
    impostor = np.linspace(0.5, 1.5, 2000)
    with_uncompared = np.concatenate([impostor, np.full(2000, np.inf)])

    points = recipe.operating_points(with_uncompared)
    assert points == recipe.operating_points(impostor)
    assert points["operating_points"]["default"]["distance"] == pytest.approx(0.501, abs=1e-3)  # FMR 1e-3 of 2000
    with pytest.raises(ValueError, match="nothing to calibrate"):
        recipe.operating_points(np.full(3, np.inf))
