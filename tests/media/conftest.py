"""Sample media, built once per test session from the photo scikit-image ships."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.domain.errors import ErrorCode
from appliance.media import LocalMediaStorage
from appliance.ops.settings import Limits
from tests.support.media_samples import build_malformed_samples, build_valid_samples


@pytest.fixture(scope="session")
def valid_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_valid_samples(tmp_path_factory.mktemp("valid"))


@pytest.fixture(scope="session")
def malformed_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, ErrorCode]]:
    return build_malformed_samples(tmp_path_factory.mktemp("malformed"))


@pytest.fixture
def storage(tmp_path: Path) -> LocalMediaStorage:
    return LocalMediaStorage(tmp_path / "media", Limits())
