"""One real appliance for the client's tests (API, analysis workers and the BRIGHTNESS test plugin,
over real HTTP), and a photo to upload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.live import LiveAppliance, running_appliance
from tests.support.media_samples import astronaut_rgb, jpeg_bytes


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAppliance]:
    workers = {"default": 1, "analysis": 1, "resolution": 1}
    with running_appliance(tmp_path_factory.mktemp("appliance"), workers=workers, scheduler=False) as live:
        yield live


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("media") / "selfie.jpg"
    path.write_bytes(jpeg_bytes(astronaut_rgb()))
    return path
