"""Fixtures every test folder may use."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from appliance.sdk.testing import default_models
from tests.support.s3_server import SeaweedS3, seaweedfs
from tests.support.shared_data import SHARED_DATA


def pytest_sessionstart(session: pytest.Session) -> None:
    """The tests that read the shared data skip where it is absent (a newcomer's clone); CI has it,
    so there its absence stops the run instead of turning those tests into skips."""
    if os.environ.get("CI") == "true" and not (SHARED_DATA / "manifest.csv").is_file():
        raise pytest.UsageError(
            f"CI must have the shared test data: no manifest.csv in {SHARED_DATA} (APPLIANCE_TEST_DATA)"
        )


@pytest.fixture(scope="session")
def default_models_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model store holding the default models, installed once per session from the venv's
    packages. Read-only: a test that changes a store makes its own."""
    return default_models(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedS3]:
    """A real S3 server (SeaweedFS) for the session, with one bucket made; tests that write make
    their own bucket (`new_bucket`). Skipped by name where `weed` is not installed, but not in CI."""
    with seaweedfs() as server:
        yield server
