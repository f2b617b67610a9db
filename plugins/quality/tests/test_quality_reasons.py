"""Quality reasons, with their numbers, on photos built from the astronaut."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from appliance_plugin_quality.best_shot import best_shot
from appliance_plugin_quality.reasons import ReasonSettings, face_sharpness, quality_reasons
from skimage import data

from appliance.sdk import AnalysisContext
from appliance.sdk.testing import default_models, media_input, vision_service


@pytest.fixture(scope="session")
def quality_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_models(tmp_path_factory.mktemp("models"))


def _reasons(tmp_path: Path, models: Path, rgb: np.ndarray, name: str, with_pixels: bool = True) -> list[dict]:
    path = tmp_path / f"{name}.png"
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    media = media_input(path, ["photo_selfie"])
    ctx = AnalysisContext({}, vision=vision_service(models))
    track = ctx.faces(media)
    shot = best_shot(track, ctx.frames(media))
    if shot is None:
        return quality_reasons(track)
    return quality_reasons(track, shot.position, ctx.image(media) if with_pixels else None)


def _by_name(reasons: list[dict]) -> dict[str, dict]:
    return {r["reason"]: r for r in reasons}


def test_a_good_photo_has_no_reason(tmp_path: Path, quality_models: Path) -> None:
    assert _reasons(tmp_path, quality_models, data.astronaut(), "astronaut") == []


def test_blurred_dark_and_overexposed_say_by_how_much(tmp_path: Path, quality_models: Path) -> None:
    rgb = data.astronaut()
    blurred = _by_name(_reasons(tmp_path, quality_models, cv2.GaussianBlur(rgb, (0, 0), 2.5), "blurred"))
    assert set(blurred) == {"BLURRED"}
    assert blurred["BLURRED"]["sharpness"] < blurred["BLURRED"]["threshold"] == 40.0
    assert blurred["BLURRED"]["measure"] == "laplacian_var_at_112px"
    dark = _by_name(_reasons(tmp_path, quality_models, (rgb * 0.25).astype(np.uint8), "dark"))
    assert dark["DARK"]["brightness"] < 50 and dark["DARK"]["threshold"] == 50.0
    bright = np.clip(rgb.astype(np.float32) * 0.5 + 150, 0, 255).astype(np.uint8)
    over = _by_name(_reasons(tmp_path, quality_models, bright, "bright"))
    assert over["OVEREXPOSED"]["brightness"] > 210


def test_face_too_small_multiple_faces_and_no_face(tmp_path: Path, quality_models: Path) -> None:
    rgb = data.astronaut()
    small = np.full((512, 512, 3), 90, np.uint8)
    small[200:264, 200:264] = cv2.resize(rgb[40:232, 120:312], (64, 64), interpolation=cv2.INTER_AREA)
    too_small = _by_name(_reasons(tmp_path, quality_models, small, "small"))
    assert too_small["FACE_TOO_SMALL"]["face_width_px"] < 60
    pair = np.concatenate([rgb, rgb[:, ::-1]], axis=1)
    multiple = _by_name(_reasons(tmp_path, quality_models, pair, "pair"))
    assert multiple["MULTIPLE_FACES"]["frames"] == [0] and multiple["MULTIPLE_FACES"]["max_faces"] >= 2
    none = _reasons(tmp_path, quality_models, np.full((240, 320, 3), 128, np.uint8), "grey")
    assert none == [{"reason": "NO_FACE", "frames": 1, "frames_with_face": 0}]


def test_sharpness_does_not_depend_on_the_face_size() -> None:
    rgb = data.astronaut()
    box = (175.0, 76.0, 265.0, 166.0)
    twice = cv2.resize(rgb, (1024, 1024), interpolation=cv2.INTER_CUBIC)
    big_box = tuple(2 * v for v in box)
    near, far = face_sharpness(twice, big_box), face_sharpness(rgb, box)
    assert 0.5 < near / far < 2.0
    settings = ReasonSettings.from_params({"min_sharpness": "10", "dark_below": None})
    assert settings.min_sharpness == 10.0 and settings.dark_below == 50.0
