"""Fixtures: model stores holding the real default models (built from the installed PyPI packages)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from appliance.runtime import ModelStore

# dlib's HOG detector box of the astronaut's face in skimage.data.astronaut() (dependency notes, section 5)


@pytest.fixture(scope="session")
def shared_store(default_models_root: Path) -> ModelStore:
    """The default models; read-only (tests that change a store use `store`)."""
    return ModelStore(default_models_root)


@pytest.fixture
def store(default_models_root: Path, tmp_path: Path) -> ModelStore:
    """A private copy of the default models, for tests that install, activate or damage."""
    root = tmp_path / "models"
    shutil.copytree(default_models_root, root, symlinks=True)
    return ModelStore(root)


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())
