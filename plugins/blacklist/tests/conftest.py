from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import appliance_plugin_blacklist
import pytest

from appliance.sdk.testing import PluginTestBed, default_models


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_models(tmp_path_factory.mktemp("models"))


@pytest.fixture
def bed(tmp_path: Path, models: Path) -> Iterator[PluginTestBed]:
    """The plugin's services on a SQLite database and storage of the test's own, with face models."""
    test_bed = PluginTestBed(appliance_plugin_blacklist, tmp_path, models=models)
    yield test_bed
    test_bed.close()
