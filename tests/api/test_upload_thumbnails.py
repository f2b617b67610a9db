"""An upload's thumbnail is made from what its probe decoded, before its row says it is there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from appliance.api import folder_service
from appliance.core.plugins import load_plugins
from appliance.core.services import AppServices
from appliance.domain.entities import User
from appliance.domain.enums import Role
from appliance.media.previews import THUMBNAIL_SIDE
from appliance.web.uploads import ParsedUpload, UploadedFile
from tests.queue.conftest import PLUGIN_MODULE, settings_for
from tests.support.media_samples import build_valid_samples

ADMIN = User(user_id="u-1", email="admin@example.test", user_type=Role.ADMIN, password_hash="-")


@pytest.fixture(scope="module")
def valid_samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_valid_samples(tmp_path_factory.mktemp("valid"))


@pytest.fixture
def services(tmp_path: Path) -> Iterator[AppServices]:
    built = AppServices(settings_for(tmp_path), plugins=load_plugins([PLUGIN_MODULE], entry_points=False))
    built.migrate()
    yield built
    built.close()


def _upload(samples: dict[str, Path], *names: str) -> ParsedUpload:
    return ParsedUpload(files=[UploadedFile(name, samples[name].name, samples[name].open("rb")) for name in names])


def test_photos_and_videos_have_their_thumbnail_when_created_and_shot_sets_wait_for_the_preview(
    services: AppServices, valid_samples: dict[str, Path]
) -> None:
    upload = _upload(valid_samples, "jpeg", "mp4", "exif_rotated_jpeg", "shots_zip")
    try:
        _, media, _ = folder_service.create_folder(services, ADMIN, upload, folder_service.parse_payload(upload))
    finally:
        upload.close()

    photo, video, rotated, shots = media
    assert [m.has_thumbnail for m in media] == [True, True, True, False]
    for row, upright_portrait in ((photo, False), (video, False), (rotated, True)):
        with Image.open(services.storage.thumbnail_path(row.media_id)) as thumbnail:
            assert thumbnail.format == "JPEG" and max(thumbnail.size) == min(THUMBNAIL_SIDE, row.width, row.height)
            assert (thumbnail.height > thumbnail.width) == upright_portrait
    assert not services.storage.thumbnail_path(shots.media_id).exists()
    assert services.queues.pending_counts()["preview"] == 1  # the shot set's thumbnail and video only


def test_a_failed_insert_leaves_no_thumbnail(
    services: AppServices, valid_samples: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def database_down(*args: object, **kwargs: object) -> None:
        raise OSError("database is locked")  # injected fault: the rows cannot be written

    monkeypatch.setattr(services.store, "add_media", database_down)
    upload = _upload(valid_samples, "jpeg", "mp4")
    with pytest.raises(OSError, match="locked"):
        try:
            folder_service.create_folder(services, ADMIN, upload, folder_service.parse_payload(upload))
        finally:
            upload.close()

    storage_root = services.settings.storage_path
    assert [p for p in storage_root.rglob("*") if p.is_file()] == []
    assert services.queues.pending_counts()["preview"] == 0
