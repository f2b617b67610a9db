"""After an embedding model change, the collections are enrolled again in the background, on SQLite
and PostgreSQL: searches compare one space only, `appliance work` shows the progress and runs the
work, a photo that cannot be enrolled again is said so and not retried.

The new model is a real one: dlib's ResNet installed again under another name and embedding space,
with the preference a vendor's bundle gives the model it ships, so that the face pipeline switches
to it at its next track (as it does when a better model is installed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import appliance_plugin_blacklist
import cv2
import msgspec
import numpy as np
import pytest
from appliance_plugin_blacklist.enrolment import enrolled_photos
from appliance_plugin_blacklist.repository import Collection, CollectionRepository, Person
from appliance_plugin_blacklist.reenrolment import Reenrolment
from click.testing import CliRunner
from skimage import data

from appliance.cli.main import cli
from appliance.runtime import ModelStore
from appliance.sdk import Resolution
from appliance.sdk.testing import PluginTestBed, run_analyzer, spec_from_plugin
from appliance.sdk.web import UploadedFile
from tests.support.postgres import throwaway_database

SPEC = spec_from_plugin(appliance_plugin_blacklist, "COLLECTION")
NEW_SPACE = "dlib-resnet-v1-reinstalled"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'appliance.db'}"
        return
    with throwaway_database() as url:
        yield url


@pytest.fixture
def site_models(default_models_root: Path, tmp_path: Path) -> Path:
    shutil.copytree(default_models_root, tmp_path / "models", symlinks=True)
    return tmp_path / "models"


@pytest.fixture
def bed(tmp_path: Path, site_models: Path, database_url: str) -> Iterator[PluginTestBed]:
    test_bed = PluginTestBed(
        appliance_plugin_blacklist, tmp_path / "site", models=site_models, database_url=database_url
    )
    yield test_bed
    test_bed.close()


def install_a_better_model(store: ModelStore) -> None:
    dlib = store.card("dlib-resnet")
    points = {"default": {"target_fmr": 1e-3, "distance": 0.6}, "strict": {"target_fmr": 1e-4, "distance": 0.53}}
    card = msgspec.structs.replace(
        dlib,
        name="dlib-resnet-reinstalled",
        embedding_space=NEW_SPACE,
        params={**dlib.params, "preference": 10, "operating_points": points, "nonmatch_distance": 0.87},
    )
    store.install(card, {dlib.files[0].name: store.file_path(dlib)}, activate=True)


def _write(path: Path, rgb: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def enrol(bed: PluginTestBed, collection: Collection, photo: Path) -> Person:
    repository = CollectionRepository(bed.services.db)
    with ExitStack() as stack:
        uploads = [UploadedFile("photo0", photo.name, stack.enter_context(photo.open("rb")))]
        with enrolled_photos(bed.services, repository, uploads, {}) as images:
            return repository.create_person(collection.collection_id, {}, images)


def spaces(bed: PluginTestBed) -> dict[str, tuple[str, str]]:
    rows = bed.services.db.fetch("SELECT person_id, embedding_space, embedding_model FROM blacklist_person_images")
    return {row["person_id"]: (row["embedding_space"], row["embedding_model"]) for row in rows}


def test_a_model_change_re_enrols_the_collections_and_searches_stay_in_one_space(
    bed: PluginTestBed, site_models: Path, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    astronaut = data.astronaut()
    astronaut_photo = _write(tmp_path / "astronaut.jpg", astronaut)
    mirrored = _write(tmp_path / "mirrored.jpg", np.ascontiguousarray(astronaut[:, ::-1]))
    cameraman_photo = _write(tmp_path / "cameraman.jpg", np.stack([data.camera()] * 3, axis=-1))
    company = bed.create_company()
    repository = CollectionRepository(bed.services.db)
    collection = repository.create_collection(company, "watch list", {})
    astronaut_person, cameraman = enrol(bed, collection, astronaut_photo), enrol(bed, collection, cameraman_photo)
    assert {space for space, _ in spaces(bed).values()} == {"dlib-resnet-v1"}

    def search() -> dict:
        return run_analyzer(
            SPEC, [(mirrored, ["photo_selfie"])], models=site_models, services=bed.services, company_id=company
        ).results_data

    assert search()["person_ids"] == [astronaut_person.person_id]

    install_a_better_model(ModelStore(site_models))
    assert bed.services.active_embedding().space == NEW_SPACE
    # the photos of the older space are not compared with the new model's embeddings
    before = search()
    assert before["person_ids"] == [] and before["collections"][0]["images_in_other_spaces"] == 2
    # the cameraman's stored photo is gone: it cannot be enrolled again
    image = repository.images_of([cameraman.person_id])[cameraman.person_id][0]
    bed.services.files.path(image.file.sha256, image.file.extension).unlink()

    for name, value in {
        "APPLIANCE_DATA_DIR": str(tmp_path / "site"),
        "APPLIANCE_DATABASE_URL": database_url,
        "APPLIANCE_MODELS_ROOT": str(site_models),
        "APPLIANCE_SECRET_KEY": "work-test",
    }.items():
        monkeypatch.setenv(name, value)
    # the appliance knows the plugin by its distribution's name, the test bed by its module's: one folder
    plugins = bed.services.data_dir.parents[1]
    (plugins / "appliance-plugin-blacklist").symlink_to(plugins / "appliance_plugin_blacklist")
    runner = CliRunner()
    status = runner.invoke(cli, ["work", "status"])
    assert status.exit_code == 0, status.output
    line = f"collection watch list ({collection.collection_id}): photos in {NEW_SPACE}"
    assert f"appliance-plugin-blacklist: {line}: 0 of 2 (pending)" in status.output
    version = repository.version(collection.collection_id)

    ran = runner.invoke(cli, ["work", "run", "--seconds", "120"])
    assert ran.exit_code == 0, ran.output
    assert "appliance-plugin-blacklist.reenrolled: 1" in ran.output
    assert "appliance-plugin-blacklist.failed: 1" in ran.output
    assert f"{line}: 1 of 2, 1 failed (done)" in ran.output
    space, model = spaces(bed)[astronaut_person.person_id]
    assert space == NEW_SPACE and model.startswith("dlib-resnet-reinstalled@")
    assert spaces(bed)[cameraman.person_id][0] == "dlib-resnet-v1"  # kept, not searched
    assert repository.version(collection.collection_id) == version + 1  # its search files are rebuilt

    after = search()
    assert after["person_ids"] == [astronaut_person.person_id]
    assert after["collections"][0]["images_searched"] == 1 and after["collections"][0]["images_in_other_spaces"] == 1
    # nothing is left to do: the failed photo is not tried again
    assert Reenrolment().run(bed.services, deadline=float("inf")) == {"reenrolled": 0, "failed": 0}
