"""Fixtures every test folder may use."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.sdk.testing import default_models


@pytest.fixture(scope="session")
def default_models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding the default models, installed once per session from the venv's
    packages. Read-only: a test that changes a store makes its own."""
    return default_models(tmp_path_factory.mktemp("models"))
