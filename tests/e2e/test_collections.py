"""Collections and the COLLECTION analysis end to end: over real HTTP, with real workers, on SQLite
and on PostgreSQL + Redis (the `live` fixture).

A company's admin enrols persons through the collections API; then a folder holding another
photo of an enrolled person is DECLINED with that person's id, and one of an unknown person
succeeds. Two casts:
- everywhere: the astronaut scikit-image ships is enrolled; her mirror image is the second photo,
  and the cameraman (also from scikit-image, 0.81 away from her) is the unknown person;
- with the shared data: seven people of ../shared/data/faces are enrolled, one photo each; a
  second photo of Barack Obama must hit him, and Steve Carell (a distractor, enrolled nowhere) pass.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
import pytest
from skimage import data

from tests.support.live import LiveAppliance
from tests.support.media_samples import astronaut_rgb, jpeg_bytes
from tests.support.roles import expect_status
from tests.support.shared_data import SKIP_REASON, shared_file

pytestmark = pytest.mark.timeout(300)

PASSWORD = "collections-password-1"
#: Enrolled from the shared data: person -> photo.
SHARED_ENROLLED = {
    "barack_obama": "faces/barack_obama/obama.jpg",
    "joe_biden": "faces/joe_biden/biden.jpg",
    "angelina_jolie": "faces/angelina_jolie/deepface_img2.jpg",
    "jeff_bezos": "faces/jeff_bezos/deepface_img20.jpg",
    "eric_clapton": "faces/eric_clapton/clapton-1.jpg",
    "john_lennon": "faces/john_lennon/lennon-1.jpg",
    "katy_perry": "faces/katy_perry/deepface_img27.jpg",
}


@dataclass
class Cast:
    """The callers: a company admin and a CLIENT of company A, a CLIENT of company B."""

    admin_a: httpx.Client
    client_a: httpx.Client
    client_b: httpx.Client
    company_a: str

    def close(self) -> None:
        for client in (self.admin_a, self.client_a, self.client_b):
            client.close()


def _user(live: LiveAppliance, admin: httpx.Client, company_id: str, *, is_admin: bool) -> httpx.Client:
    email = f"{uuid.uuid4().hex[:10]}@collections.test"
    body = {"email": email, "password": PASSWORD, "user_type": "CLIENT", "company_id": company_id, "is_admin": is_admin}
    expect_status(admin.post("/api/users", json=body), 201)
    return live.client(live.login(email, PASSWORD))


@pytest.fixture(scope="module")
def cast(live: LiveAppliance) -> Iterator[Cast]:
    with live.client(live.login()) as admin:
        a, b = (
            expect_status(admin.post("/api/companies", json={"name": f"Co {uuid.uuid4().hex[:8]}"}), 201) for _ in "ab"
        )
        cast = Cast(
            admin_a=_user(live, admin, a["company_id"], is_admin=True),
            client_a=_user(live, admin, a["company_id"], is_admin=False),
            client_b=_user(live, admin, b["company_id"], is_admin=False),
            company_a=a["company_id"],
        )
    yield cast
    cast.close()


def photo_form(photos: dict[str, bytes], meta_data: dict[str, Any] | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"media:tags": {key: ["photo_selfie"] for key in photos}}
    if meta_data is not None:
        payload["person:meta_data"] = meta_data
    files = {key: (f"{key}.jpg", content, "image/jpeg") for key, content in photos.items()}
    return {"data": {"payload": json.dumps(payload)}, "files": files}


def new_collection(cast: Cast) -> str:
    created = cast.admin_a.post("/api/collections", json={"alias": f"watch {uuid.uuid4().hex[:6]}"})
    return expect_status(created, 201)["collection_id"]


def enrol(cast: Cast, collection_id: str, name: str, photo: bytes) -> dict[str, Any]:
    form = photo_form({"photo": photo}, {"person_info": {"first_name": name}})
    return expect_status(cast.admin_a.post(f"/api/collections/{collection_id}/persons", **form), 201)


def collection_analysis(client: httpx.Client, photo: bytes) -> dict[str, Any]:
    """A folder with `photo` and a COLLECTION analysis in one request: its finished analysis."""
    payload = {"media:tags": {"selfie": ["photo_selfie"]}, "analyses": [{"type": "collection"}]}
    files = {"selfie": ("selfie.jpg", photo, "image/jpeg")}
    folder = expect_status(client.post("/api/folders", data={"payload": json.dumps(payload)}, files=files), 201)
    assert folder["resolution_status"] == "FINISHED", folder
    (analysis,) = folder["analyses"]
    assert analysis["state"] == "FINISHED" and analysis["plugin"] == "appliance-plugin-blacklist"
    return analysis


def test_a_known_face_is_declined_with_the_person_and_an_unknown_one_succeeds(cast: Cast) -> None:
    collection_id = new_collection(cast)
    astronaut = astronaut_rgb()
    person = enrol(cast, collection_id, "Eileen", jpeg_bytes(astronaut))

    hit = collection_analysis(cast.client_a, jpeg_bytes(np.ascontiguousarray(astronaut[:, ::-1])))
    assert hit["resolution_status"] == "DECLINED"
    assert hit["results_data"]["person_ids"] == [person["person_id"]]
    (media,) = hit["results_media"]
    assert media["results_data"]["person_id"] == person["person_id"]
    assert media["results_data"]["matches"][0]["confidence"] >= 0.85

    cameraman = np.stack([data.camera()] * 3, axis=-1)
    miss = collection_analysis(cast.client_a, jpeg_bytes(cameraman))
    assert miss["resolution_status"] == "SUCCESS" and miss["results_data"]["person_ids"] == []
    assert [c["images_searched"] for c in miss["results_data"]["collections"]] == [1]

    # the hit resolves to the person, whose photo the signed link serves
    resolved = expect_status(cast.client_a.get(f"/api/collections/{collection_id}/persons/{person['person_id']}"), 200)
    assert resolved["meta_data"] == {"person_info": {"first_name": "Eileen"}}
    link = httpx.URL(resolved["images"][0]["original_url"])
    with httpx.Client(base_url=cast.client_a.base_url) as anonymous:
        assert anonymous.get(link.path, params=dict(link.params)).content[:2] == b"\xff\xd8"

    # company B neither sees the collection nor is searched against it
    assert expect_status(cast.client_b.get("/api/collections"), 200)["items"] == []
    refused = cast.client_b.get(f"/api/collections/{collection_id}")
    assert (refused.status_code, refused.json()["error_code"]) == (404, 10)
    elsewhere = collection_analysis(cast.client_b, jpeg_bytes(np.ascontiguousarray(astronaut[:, ::-1])))
    assert elsewhere["resolution_status"] == "SUCCESS" and elsewhere["results_data"]["collections"] == []

    # deleting the person removes the photo and the embedding: the same face now passes
    expect_status(cast.admin_a.delete(f"/api/collections/{collection_id}/persons/{person['person_id']}"), 204)
    gone = cast.admin_a.get(link.path)
    assert (gone.status_code, gone.json()["error_code"]) == (404, 10)
    after = collection_analysis(cast.client_a, jpeg_bytes(np.ascontiguousarray(astronaut[:, ::-1])))
    assert after["resolution_status"] == "SUCCESS" and after["results_data"]["matches"] == []
    expect_status(cast.admin_a.delete(f"/api/collections/{collection_id}"), 204)


def test_photos_without_exactly_one_face_are_refused_and_nothing_is_written(cast: Cast) -> None:
    collection_id = new_collection(cast)
    astronaut = astronaut_rgb()
    cases = {
        "FACE_NOT_FOUND": jpeg_bytes(np.full((480, 640, 3), 128, np.uint8)),
        "FACE_MULTIPLE": jpeg_bytes(np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)),
    }
    for name, refused_photo in cases.items():
        form = photo_form({"good": jpeg_bytes(astronaut), "bad": refused_photo})
        refused = cast.admin_a.post(f"/api/collections/{collection_id}/persons", **form)
        assert refused.status_code == 422 and refused.json()["error_name"] == name, refused.text
        assert refused.json()["details"]["media_key"] == "bad"
    assert expect_status(cast.admin_a.get(f"/api/collections/{collection_id}/persons"), 200)["total"] == 0
    expect_status(cast.admin_a.delete(f"/api/collections/{collection_id}"), 204)


@pytest.fixture(scope="module")
def shared_faces() -> dict[str, bytes]:
    paths = {name: shared_file(relative) for name, relative in SHARED_ENROLLED.items()}
    probes = {
        "obama_again": shared_file("faces/barack_obama/obama2.jpg"),
        "carell": shared_file("faces/_distractors/openface_carell.jpg"),
    }
    if not all([*paths.values(), *probes.values()]):
        pytest.skip(SKIP_REASON)
    return {name: path.read_bytes() for name, path in {**paths, **probes}.items() if path is not None}


@pytest.mark.shared_data
def test_shared_faces_enrolled_then_searched(cast: Cast, shared_faces: dict[str, bytes]) -> None:
    collection_id = new_collection(cast)
    persons = {name: enrol(cast, collection_id, name, shared_faces[name])["person_id"] for name in SHARED_ENROLLED}
    listed = expect_status(cast.client_a.get(f"/api/collections/{collection_id}/persons", params={"limit": 3}), 200)
    assert listed["total"] == len(SHARED_ENROLLED) and len(listed["items"]) == 3

    hit = collection_analysis(cast.client_a, shared_faces["obama_again"])
    assert hit["resolution_status"] == "DECLINED"
    assert hit["results_data"]["person_ids"] == [persons["barack_obama"]]
    miss = collection_analysis(cast.client_a, shared_faces["carell"])
    assert miss["resolution_status"] == "SUCCESS" and miss["results_data"]["person_ids"] == []
    expect_status(cast.admin_a.delete(f"/api/collections/{collection_id}"), 204)
