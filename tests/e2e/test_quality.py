"""QUALITY through the API: a selfie video gets a liveness score and a best shot; without a PAD model
installed, a face that shows no attack goes to an operator, with the reason."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.support.live import LiveAppliance
from tests.support.shared_data import shared_file

pytestmark = pytest.mark.timeout(300)


def test_selfie_video_liveness_and_best_shot(live: LiveAppliance, samples: dict[str, Path]) -> None:
    video_path = shared_file("bench/selfie720p_1mbps.mp4") or samples["mp4"]
    client = live.client(live.login(), timeout=180)
    payload = {"media:tags": {"selfie": ["video_selfie", "video_selfie_blank"]}, "analyses": [{"type": "quality"}]}
    with video_path.open("rb") as video:
        response = client.post("/api/folders/", data={"payload": json.dumps(payload)}, files={"selfie": video})
    assert response.status_code == 201, response.text
    folder = response.json()
    assert folder["resolution_status"] == "FINISHED", live.logs()
    (analysis,) = folder["analyses"]
    assert analysis["type"] == "QUALITY" and analysis["plugin"] == "appliance-plugin-quality"
    (result,) = analysis["results_media"]
    assert 0.0 <= result["results_data"]["confidence_spoofing"] <= 1.0
    # the test appliance has the default models only: no PAD model to vouch for a live face
    assert result["results_data"]["passive"]["pad_model_missing"] is True
    assert analysis["resolution_status"] == (
        "DECLINED" if result["results_data"]["confidence_spoofing"] >= 0.5 else "OPERATOR_REQUIRED"
    )
    assert analysis["results_data"]["operator_reasons"] == (
        [] if analysis["resolution_status"] == "DECLINED" else ["pad_model_missing"]
    )
    best = httpx.get(result["output_images"][0]["original_url"])
    assert best.status_code == 200 and best.content[:2] == b"\xff\xd8"
