"""make_preview writes real files; deleting a folder removes the files only it used."""

from __future__ import annotations

import cv2
from PIL import Image

from appliance.core.folders import delete_folder_and_files
from appliance.core.services import AppServices
from appliance.queue.tasks import make_preview, run_analyses
from tests.queue.conftest import Samples, add_analysis, add_folder, add_media


def test_thumbnails_for_every_kind_and_a_video_preview_for_shot_sets(ctx: AppServices, samples: Samples) -> None:
    folder = add_folder(ctx)
    image = add_media(ctx, folder, samples.jpeg)
    video = add_media(ctx, folder, samples.mp4, ["video_selfie"])
    shots = add_media(ctx, folder, samples.shots_zip, ["video_selfie"])

    for media in (image, video, shots):
        make_preview(media.media_id)

    rows = [ctx.store.get_media(m.media_id) for m in (image, video, shots)]
    assert [(row.has_thumbnail, row.has_preview) for row in rows if row] == [(True, False), (True, False), (True, True)]
    for media in (image, video, shots):
        with Image.open(ctx.storage.thumbnail_path(media.media_id)) as thumb:
            assert thumb.format == "JPEG" and max(thumb.size) <= 320
    capture = cv2.VideoCapture(str(ctx.storage.preview_path(shots.media_id)))
    try:
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    finally:
        capture.release()
    assert not ctx.storage.preview_path(image.media_id).exists()


def test_missing_media_is_nothing_to_do(ctx: AppServices) -> None:
    make_preview("4f1c9a62-0000-4000-8000-000000000000")


def test_delete_folder_keeps_files_other_folders_use(ctx: AppServices, samples: Samples) -> None:
    doomed = add_folder(ctx)
    kept = add_folder(ctx)
    shared = add_media(ctx, doomed, samples.jpeg)
    own = add_media(ctx, doomed, samples.dark_jpeg)
    same_twice = add_media(ctx, doomed, samples.mp4)
    add_media(ctx, doomed, samples.mp4)
    other = add_media(ctx, kept, samples.jpeg)
    for media in (shared, own):
        make_preview(media.media_id)
    run_analyses(add_analysis(ctx, doomed, [shared, own]).analysis_id)
    assert ctx.storage.output_dir(shared.media_id).is_dir()

    assert delete_folder_and_files(ctx.store, ctx.storage, doomed.folder_id)

    assert ctx.store.get_folder(doomed.folder_id) is None
    assert ctx.store.list_analyses(doomed.folder_id) == []
    assert ctx.storage.path_for(shared.sha256, shared.extension).is_file()  # still used by `other`
    assert not ctx.storage.path_for(own.sha256, own.extension).exists()
    assert not ctx.storage.path_for(same_twice.sha256, same_twice.extension).exists()
    for media in (shared, own):
        assert not ctx.storage.derived_dir(media.media_id).exists()
    assert ctx.store.get_media(other.media_id) is not None

    assert not delete_folder_and_files(ctx.store, ctx.storage, doomed.folder_id)
