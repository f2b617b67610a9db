"""The real default models in a model store of the test session, a VisionService over them, and
real media: the astronaut photo (face near x 175..265, y 76..166) and the shared samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from appliance.runtime import ModelRuntime, ModelStore
from appliance.vision import VisionService
from tests.support.media_samples import astronaut_rgb, build_valid_samples


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


@pytest.fixture(scope="session")
def runtime(default_models_root: Path) -> ModelRuntime:
    return ModelRuntime(ModelStore(default_models_root))


@pytest.fixture(scope="session")
def vision(runtime: ModelRuntime) -> VisionService:
    """A service without disk cache (each test that counts work makes its own)."""
    return VisionService(runtime, cache_dir=None, memory_items=0)


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_valid_samples(tmp_path_factory.mktemp("vision-samples"))


@pytest.fixture
def astronaut() -> np.ndarray:
    return astronaut_rgb()
