"""Fixtures of the end-to-end tests: a running appliance per deployment, and real sample media."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deployments import DEPLOYMENTS, deployment_settings
from tests.support.live import LiveAppliance, running_appliance
from tests.support.media_samples import build_valid_samples
from tests.support.webhooks import allowed_targets_env


@pytest.fixture(scope="session")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_valid_samples(tmp_path_factory.mktemp("samples"))


@pytest.fixture(scope="module", params=DEPLOYMENTS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAppliance]:
    """The appliance on one host (SQLite, Huey on SQLite) or on the two-host stack
    (PostgreSQL, Huey on Redis), started once per test module."""
    data_dir = tmp_path_factory.mktemp("appliance")
    with (
        deployment_settings(request.param) as deployment,
        running_appliance(data_dir, **allowed_targets_env(), **deployment) as live,
    ):
        yield live
