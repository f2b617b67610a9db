"""COLLECTION with the real face models on the plugin's own tables: enrolment refuses what cannot be
searched, a second photo of an enrolled person is declined with the person's id, an unknown face
passes, and deleting a person removes their files, embeddings and index files.

The faces are the ones scikit-image ships: the astronaut (enrolled; her mirror image is the second
photo) and the cameraman (a different person, at distance 0.81 from her: not a match)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import appliance_plugin_blacklist
import cv2
import numpy as np
import pytest
from appliance_plugin_blacklist.enrolment import enrolled_photos
from appliance_plugin_blacklist.repository import Collection, CollectionRepository, Person
from appliance_plugin_blacklist.search import index_root
from skimage import data

from appliance.sdk import Resolution
from appliance.sdk.testing import PluginTestBed, run_analyzer, spec_from_plugin
from appliance.sdk.web import AppError, ErrorCode, UploadedFile

SPEC = spec_from_plugin(appliance_plugin_blacklist, "COLLECTION")


def _write(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    astronaut = data.astronaut()
    camera = np.stack([data.camera()] * 3, axis=-1)
    return {
        "astronaut": _write(folder / "astronaut.jpg", astronaut),
        "mirrored": _write(folder / "mirrored.jpg", np.ascontiguousarray(astronaut[:, ::-1])),
        "cameraman": _write(folder / "cameraman.jpg", camera),
        "blank": _write(folder / "blank.jpg", np.full((480, 640, 3), 128, np.uint8)),
        "two_faces": _write(folder / "two.jpg", np.concatenate([astronaut, astronaut[:, ::-1]], axis=1)),
    }


def enrol(bed: PluginTestBed, collection: Collection, *paths: Path) -> Person:
    repository = CollectionRepository(bed.services.db)
    with ExitStack() as stack:
        uploads = [UploadedFile(f"photo{i}", p.name, stack.enter_context(p.open("rb"))) for i, p in enumerate(paths)]
        with enrolled_photos(bed.services, repository, uploads, {"photo0": ["photo_selfie"]}) as images:
            return repository.create_person(collection.collection_id, {"person_info": {"first_name": "E"}}, images)


def stored_files(bed: PluginTestBed) -> list[Path]:
    return [p for p in (bed.services.files.spool_dir.parent / "files").rglob("*") if p.is_file()]


@pytest.fixture
def watch_list(bed: PluginTestBed, photos: dict[str, Path]) -> Iterator[tuple[str, Collection, Person]]:
    company = bed.create_company()
    collection = CollectionRepository(bed.services.db).create_collection(company, "watch list", {})
    yield company, collection, enrol(bed, collection, photos["astronaut"])


def analyse(bed: PluginTestBed, models: Path, company: str, photo: Path, **params: object):  # noqa: ANN201
    return run_analyzer(
        SPEC, [(photo, ["photo_selfie"])], params=params, models=models, services=bed.services, company_id=company
    )


def test_another_photo_of_an_enrolled_person_is_declined_with_their_id(
    bed: PluginTestBed, models: Path, photos: dict[str, Path], watch_list: tuple[str, Collection, Person]
) -> None:
    company, collection, person = watch_list
    outcome = analyse(bed, models, company, photos["mirrored"])
    assert outcome.resolution is Resolution.DECLINED
    assert outcome.results_data["person_ids"] == [person.person_id]
    assert outcome.results_data["max_confidence"] >= 0.85
    (result,) = outcome.results_media
    assert result.results_data["person_id"] == person.person_id
    (match,) = result.results_data["matches"]
    assert match["collection_id"] == collection.collection_id and match["distance"] < 0.6
    (searched,) = outcome.results_data["collections"]
    assert searched == {
        "collection_id": collection.collection_id,
        "alias": "watch list",
        "images_searched": 1,
        "images_in_other_spaces": 0,
    }
    assert "dlib-resnet" in outcome.model_versions


def test_an_unknown_face_succeeds(
    bed: PluginTestBed, models: Path, photos: dict[str, Path], watch_list: tuple[str, Collection, Person]
) -> None:
    company, _, person = watch_list
    outcome = analyse(bed, models, company, photos["cameraman"])
    assert outcome.resolution is Resolution.SUCCESS
    assert outcome.results_data["person_ids"] == [] and outcome.results_data["max_confidence"] < 0.5
    reported = analyse(bed, models, company, photos["cameraman"], report_floor=0.0)
    assert [m["person_id"] for m in reported.results_data["matches"]] == [person.person_id]
    assert reported.results_data["matches"][0]["confidence"] < 0.85


def test_no_face_is_declined_with_the_reason(
    bed: PluginTestBed, models: Path, photos: dict[str, Path], watch_list: tuple[str, Collection, Person]
) -> None:
    company, _, _ = watch_list
    outcome = analyse(bed, models, company, photos["blank"])
    assert outcome.resolution is Resolution.DECLINED
    assert "no media with a usable face" in outcome.results_data["reason"]
    assert list(outcome.results_data["media_without_face"].values()) == [["NO_FACE"]]


def test_only_the_folder_company_collections_are_searched(
    bed: PluginTestBed, models: Path, photos: dict[str, Path], watch_list: tuple[str, Collection, Person]
) -> None:
    _, collection, _ = watch_list
    other_company = bed.create_company()
    outcome = analyse(bed, models, other_company, photos["mirrored"])
    assert outcome.resolution is Resolution.SUCCESS and outcome.results_data["collections"] == []
    assert outcome.results_data["reason"].startswith("no watch list to search")  # nothing searched, and it says so
    with pytest.raises(LookupError, match=collection.collection_id):
        analyse(bed, models, other_company, photos["mirrored"], collection_ids=[collection.collection_id])


@pytest.mark.parametrize(
    ("photo", "code"), [("blank", ErrorCode.FACE_NOT_FOUND), ("two_faces", ErrorCode.FACE_MULTIPLE)]
)
def test_a_photo_without_exactly_one_face_is_refused_and_leaves_nothing(
    bed: PluginTestBed, photos: dict[str, Path], photo: str, code: ErrorCode
) -> None:
    collection = CollectionRepository(bed.services.db).create_collection(bed.create_company(), "list", {})
    with pytest.raises(AppError) as refused:
        enrol(bed, collection, photos["astronaut"], photos[photo])
    assert refused.value.code is code and refused.value.details["media_key"] == "photo1"
    assert stored_files(bed) == []
    assert CollectionRepository(bed.services.db).list_persons(collection.collection_id, 0, 10) == ([], 0)


def test_deleting_the_person_removes_files_embeddings_and_index(
    bed: PluginTestBed, models: Path, photos: dict[str, Path], watch_list: tuple[str, Collection, Person]
) -> None:
    company, collection, person = watch_list
    assert analyse(bed, models, company, photos["mirrored"]).resolution is Resolution.DECLINED
    index = index_root(bed.services.data_dir) / collection.collection_id
    assert list(index.glob("*/v*/vectors.npy")) and stored_files(bed)
    repository = CollectionRepository(bed.services.db)
    for file in repository.delete_person(collection.collection_id, person.person_id):
        if not repository.file_is_used(file):
            bed.services.files.delete(file.sha256, file.extension)
    assert stored_files(bed) == []
    assert repository.gallery_rows(collection.collection_id, "dlib-resnet-v1")[0].size == 0
    outcome = analyse(bed, models, company, photos["mirrored"])
    assert outcome.resolution is Resolution.SUCCESS and outcome.results_data["matches"] == []
    assert [p.name for p in index.glob("*/v*")] == [f"v{repository.version(collection.collection_id)}"]
