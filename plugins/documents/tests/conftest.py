from __future__ import annotations

from pathlib import Path

import pytest

from appliance.sdk.testing import default_models


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_models(tmp_path_factory.mktemp("models"))
