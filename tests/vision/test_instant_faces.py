"""The instant mode gives analyses face tracks from memory only, shared within the request."""

from __future__ import annotations

import io
from pathlib import Path

from appliance.api.controllers import instant
from appliance.api.folder_service import parse_payload
from appliance.core.plugins import load_plugins
from appliance.core.services import AppServices
from appliance.ops.settings import Settings
from appliance.runtime import ModelRuntime, ModelStore
from appliance.vision import VisionService
from appliance.web.uploads import ParsedUpload, UploadedFile


def test_instant_analyses_share_face_tracks_and_leave_nothing(
    default_models_root: Path, samples: dict[str, Path], tmp_path: Path
) -> None:
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=str(data_dir), models_root=str(default_models_root), secret_key="s")
    vision = VisionService(ModelRuntime(ModelStore(default_models_root)), cache_dir=None)
    services = AppServices(
        settings, plugins=load_plugins(["tests.vision.faces_plugin"], entry_points=False), vision=vision
    )
    files = [
        UploadedFile(key=key, filename=samples[name].name, file=io.BytesIO(samples[name].read_bytes()))
        for key, name in (("photo", "jpeg"), ("video", "mp4"))
    ]
    upload = ParsedUpload(
        files=files,
        payload={
            "media:tags": {"photo": ["photo_id_front"], "video": ["video_selfie"]},
            "analyses": [{"type": "faces"}, {"type": "faces"}],
        },
    )

    result = instant._run(services, upload, parse_payload(upload))

    assert [a["state"] for a in result["analyses"]] == ["FINISHED", "FINISHED"]
    assert all(a["results_data"]["distance"] < 0.6 for a in result["analyses"])
    assert (vision.stats.computed, vision.stats.memory_hits) == (2, 2)  # two media, each computed once
    assert vision.cache_dir("6f9619ff-8b86-d011-b42d-00c04fc964ff") is None
    assert len(vision._memory) == 0  # forgotten once answered
    assert not data_dir.exists() or not any(p.is_file() for p in data_dir.rglob("*"))
