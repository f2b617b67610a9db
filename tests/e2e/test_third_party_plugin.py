"""An integrator's plugin, built from plugins/template as its own distribution and installed
apart from the appliance, runs through the API like a built-in analysis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.live import poll_folder, running_appliance
from tests.support.plugin_template import install_template_plugin

pytestmark = pytest.mark.timeout(240)


def test_template_plugin_runs_through_the_api(tmp_path: Path, samples: dict[str, Path]) -> None:
    site = install_template_plugin(tmp_path / "plugin")
    with running_appliance(tmp_path / "data", pythonpath=(site,)) as live:
        client = live.client(live.login())
        plugins = {p["name"]: p for p in client.get("/api/version").json()["plugins"]}
        assert plugins["appliance-plugin-exposure"]["analysis_types"] == ["EXPOSURE"]
        assert plugins["appliance-plugin-exposure"]["version"] == "0.1.0"

        payload = {"media:tags": {"video1": ["video_selfie"], "photo1": ["photo_selfie"]}}
        with samples["mp4"].open("rb") as video, samples["jpeg"].open("rb") as photo:
            folder = client.post(
                "/api/folders/", data={"payload": json.dumps(payload)}, files={"video1": video, "photo1": photo}
            ).json()
        started = client.post(
            f"/api/folders/{folder['folder_id']}/analyses/", json={"analyses": [{"type": "exposure"}]}
        )
        assert started.status_code == 201, started.text

        final = poll_folder(client, folder["folder_id"])
        assert final["resolution_status"] == "FINISHED", live.logs()
        (analysis,) = final["analyses"]
        assert analysis["plugin"] == "appliance-plugin-exposure"
        assert analysis["resolution_status"] == "SUCCESS"
        assert len(analysis["results_media"]) == 2
        for item in analysis["results_media"]:
            assert 0.0 <= item["results_data"]["underexposed"] < 0.25
