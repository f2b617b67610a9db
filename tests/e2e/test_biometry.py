"""BIOMETRY end to end through the API: a real selfie video against an ID-style photo.

With the shared data (CI): the selfie is the standard 720p benchmark clip and the ID card's
portrait is a later frame of the same person's recording, so it is a genuine pair; a photo of
someone else on the card must be declined. Without it: the astronaut clip against an ID card made
from the astronaut photo.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from appliance.media.decode import load_image_rgb
from appliance.runtime import ModelRuntime, ModelStore
from appliance.runtime.defaults import install_default_models
from appliance.vision import VisionService
from tests.support.id_photos import id_card_from, video_frame
from tests.support.live import LiveAppliance, poll_folder
from tests.support.shared_data import shared_file

pytestmark = pytest.mark.timeout(300)


def _largest_face(vision: VisionService, rgb: np.ndarray) -> tuple[int, int, int, int]:
    faces = vision.detect(rgb)
    assert faces, "the portrait source has a face"
    box = max(faces, key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1])).box
    return tuple(int(v) for v in box)  # type: ignore[return-value]


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory, samples: dict[str, Path]) -> dict[str, tuple[Path, Path, str]]:
    """name -> (selfie video, ID card photo, expected resolution)."""
    folder = tmp_path_factory.mktemp("biometry")
    store = ModelStore(folder / "models")
    install_default_models(store)
    vision = VisionService(ModelRuntime(store))
    selfie, recording = shared_file("bench/selfie720p_1mbps.mp4"), shared_file("videos/liveportrait_d13.mp4")
    other = shared_file("faces/barack_obama/obama.jpg")
    if selfie and recording and other:
        later = video_frame(recording, 200)  # past the 150 frames the selfie clip holds
        other_rgb = load_image_rgb(other)
        return {
            "genuine": (selfie, id_card_from(later, _largest_face(vision, later), folder / "id_same.jpg"), "SUCCESS"),
            "impostor": (
                selfie,
                id_card_from(other_rgb, _largest_face(vision, other_rgb), folder / "id_other.jpg"),
                "DECLINED",
            ),
        }
    photo = load_image_rgb(samples["jpeg"])
    return {
        "genuine": (samples["mp4"], id_card_from(photo, _largest_face(vision, photo), folder / "id.jpg"), "SUCCESS")
    }


@pytest.mark.parametrize("case", ["genuine", "impostor"])
def test_selfie_video_against_id_photo(
    live: LiveAppliance, cases: dict[str, tuple[Path, Path, str]], case: str
) -> None:
    if case not in cases:
        pytest.skip("the impostor case needs the shared data (set APPLIANCE_TEST_DATA)")
    video_path, card_path, expected = cases[case]
    client = live.client(live.login())
    assert "BIOMETRY" in {t for p in client.get("/api/version").json()["plugins"] for t in p["analysis_types"]}
    payload = {"media:tags": {"selfie": ["video_selfie", "video_selfie_blank"], "id": ["photo_id", "photo_id_front"]}}
    with video_path.open("rb") as video, card_path.open("rb") as card:
        folder = client.post(
            "/api/folders/", data={"payload": json.dumps(payload)}, files={"selfie": video, "id": card}
        )
    assert folder.status_code == 201, folder.text
    folder_id = folder.json()["folder_id"]
    started = client.post(f"/api/folders/{folder_id}/analyses/", json={"analyses": [{"type": "biometry"}]})
    assert started.status_code == 201, started.text

    final = poll_folder(client, folder_id, timeout=180)
    assert final["resolution_status"] == "FINISHED", live.logs()
    (analysis,) = final["analyses"]
    assert analysis["resolution_status"] == expected == final["system_resolution"]
    results = analysis["results_data"]
    assert len(results["pairs"]) == 1 and results["min_confidence"] == results["max_confidence"]
    assert (results["min_confidence"] >= 0.85) == (expected == "SUCCESS")
    assert analysis["plugin"] == "appliance-plugin-biometry"
    assert {"blazeface-full", "dlib-resnet", "dlib-sp5"} <= set(analysis["model_versions"])
    for item in analysis["results_media"]:
        assert item["results_data"]["face_found"] and item["results_data"]["embedding_space"] == "dlib-resnet-v1"
        assert item["output_images"][0]["name"] == "face"


def test_a_company_that_chose_the_strict_operating_point_gets_it(
    live: LiveAppliance, cases: dict[str, tuple[Path, Path, str]]
) -> None:
    """The company's admin sets `biometry_operating_point` in its meta_data through the API; the
    analyses of its users' folders are decided at that point, which their results name."""
    admin = live.client(live.login())
    company = admin.post("/api/companies/", json={"name": f"Strict bank {uuid.uuid4().hex[:8]}"})
    assert company.status_code == 201, company.text
    company_id = company.json()["company_id"]
    changed = admin.patch(f"/api/companies/{company_id}", json={"meta_data": {"biometry_operating_point": "strict"}})
    assert changed.status_code == 200, changed.text
    email = f"teller-{uuid.uuid4().hex[:8]}@strict.test"
    user = {"email": email, "password": "a long enough password 1", "user_type": "CLIENT", "company_id": company_id}
    assert admin.post("/api/users/", json=user).status_code == 201
    client = live.client(live.login(email, user["password"]))

    video_path, card_path, _ = cases["genuine"]
    payload = {
        "media:tags": {"selfie": ["video_selfie", "video_selfie_blank"], "id": ["photo_id", "photo_id_front"]},
        "analyses": [{"type": "biometry"}],
    }
    with video_path.open("rb") as video, card_path.open("rb") as card:
        folder = client.post(
            "/api/folders/", data={"payload": json.dumps(payload)}, files={"selfie": video, "id": card}
        )
    assert folder.status_code == 201, folder.text
    final = poll_folder(client, folder.json()["folder_id"], timeout=180)
    (analysis,) = final["analyses"]
    results = analysis["results_data"]
    point = results["operating_point"]
    assert (point["name"], point["target_fmr"], point["embedding_space"]) == ("strict", 1e-4, "dlib-resnet-v1")
    assert point["threshold"] > 0.85 and results["score"] == results["min_confidence"]
    assert (analysis["resolution_status"] == "SUCCESS") == (results["score"] >= point["threshold"])
