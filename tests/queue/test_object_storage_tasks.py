"""The worker's tasks and the maintenance jobs on the object storage backend (a real SeaweedFS
bucket), called as a worker calls them: an analysis reads its media fetched into the cache and
writes its output image to the bucket, previews go to the bucket, retention and the orphan sweep
delete objects."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import cv2
import pytest
from PIL import Image

from appliance.domain.enums import AnalysisState
from appliance.media.storage.base import THUMBNAIL
from appliance.media.storage.s3 import S3MediaStorage
from appliance.ops.settings import SchedulerSettings, StorageSettings
from appliance.queue.jobs import retention, sweep_orphans
from appliance.queue.tasks import make_preview, run_analyses
from tests.queue.conftest import MakeCtx, Samples, add_analysis, add_folder, add_media
from tests.support.s3_server import SeaweedS3

pytestmark = pytest.mark.timeout(120)


def _s3(server: SeaweedS3, bucket: str) -> StorageSettings:
    return StorageSettings(
        backend="s3",
        endpoint_url=server.endpoint_url,
        bucket=bucket,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
    )


def _object(server: SeaweedS3, bucket: str, key: str) -> bytes:
    return server.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def test_an_analysis_reads_from_the_bucket_and_writes_its_output_there(
    make_ctx: MakeCtx, samples: Samples, s3_server: SeaweedS3
) -> None:
    bucket = s3_server.new_bucket()
    ctx = make_ctx(storage=_s3(s3_server, bucket))
    storage = ctx.storage
    assert isinstance(storage, S3MediaStorage)
    folder = add_folder(ctx)
    media = add_media(ctx, folder, samples.jpeg)
    storage.cache.drop(media.sha256, media.extension)  # the upload was on another host
    analysis = add_analysis(ctx, folder, [media])

    run_analyses(analysis.analysis_id)

    done = ctx.store.get_analysis(analysis.analysis_id)
    assert done is not None and done.state is AnalysisState.FINISHED
    assert storage.cache.file_path(media.sha256, media.extension).is_file()  # fetched to be read
    key = storage.derived_key(media.media_id, f"outputs/{analysis.analysis_id}/brightest_frame.jpg")
    assert _object(s3_server, bucket, key).startswith(b"\xff\xd8\xff")

    # the stored file gone from the bucket: the analysis fails with the code that says so
    again = add_analysis(ctx, folder, [media])
    s3_server.client().delete_object(Bucket=bucket, Key=storage.file_key(media.sha256, media.extension))
    storage.cache.drop(media.sha256, media.extension)
    run_analyses(again.analysis_id)
    failed = ctx.store.get_analysis(again.analysis_id)
    assert failed is not None and failed.state is AnalysisState.FAILED and failed.error_code == 124


def test_previews_are_written_to_the_bucket(make_ctx: MakeCtx, samples: Samples, s3_server: SeaweedS3) -> None:
    bucket = s3_server.new_bucket()
    ctx = make_ctx(storage=_s3(s3_server, bucket))
    storage = ctx.storage
    assert isinstance(storage, S3MediaStorage)
    folder = add_folder(ctx)
    shots = add_media(ctx, folder, samples.shots_zip, ["video_selfie"])
    make_preview(shots.media_id)
    row = ctx.store.get_media(shots.media_id)
    assert row is not None and (row.has_thumbnail, row.has_preview) == (True, True)
    with Image.open(io.BytesIO(_object(s3_server, bucket, storage.derived_key(shots.media_id, THUMBNAIL)))) as thumb:
        assert thumb.format == "JPEG" and max(thumb.size) <= 320
    preview = ctx.settings.storage_path / "check-preview.mp4"
    preview.write_bytes(_object(s3_server, bucket, storage.derived_key(shots.media_id, "preview.mp4")))
    capture = cv2.VideoCapture(str(preview))
    try:
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 4
    finally:
        capture.release()
    assert list(storage.spool_dir.iterdir()) == []  # the local files they were made in are gone


def test_retention_deletes_the_objects_of_old_folders(
    make_ctx: MakeCtx, samples: Samples, s3_server: SeaweedS3
) -> None:
    bucket = s3_server.new_bucket()
    ctx = make_ctx(retention_days=1, storage=_s3(s3_server, bucket))
    storage = ctx.storage
    assert isinstance(storage, S3MediaStorage)
    old = add_folder(ctx, time_created=datetime.now(UTC) - timedelta(days=2))
    recent = add_folder(ctx)
    old_media = add_media(ctx, old, samples.dark_jpeg)
    recent_media = add_media(ctx, recent, samples.jpeg)
    storage.put_derived(old_media.media_id, THUMBNAIL, b"\xff\xd8old")
    storage.put_derived(recent_media.media_id, THUMBNAIL, b"\xff\xd8recent")

    assert retention()["folders_deleted"] == 1

    assert s3_server.keys(bucket) == sorted(
        [
            storage.file_key(recent_media.sha256, recent_media.extension),
            storage.derived_key(recent_media.media_id, THUMBNAIL),
        ]
    )


def test_the_orphan_sweep_deletes_objects_without_rows(
    make_ctx: MakeCtx, samples: Samples, s3_server: SeaweedS3
) -> None:
    bucket = s3_server.new_bucket()
    ctx = make_ctx(storage=_s3(s3_server, bucket), scheduler=SchedulerSettings(orphan_grace_seconds=1))
    storage = ctx.storage
    assert isinstance(storage, S3MediaStorage)
    folder = add_folder(ctx)
    kept = add_media(ctx, folder, samples.jpeg)
    storage.put_derived(kept.media_id, THUMBNAIL, b"\xff\xd8kept")
    with samples.dark_jpeg.open("rb") as fh:
        orphan = storage.ingest(fh, "killed-upload.jpg")  # stored, then the process died before its rows
    storage.put_derived("killed-upload-media", THUMBNAIL, b"\xff\xd8orphan")
    assert sweep_orphans() == {"files_removed": 0, "derived_removed": 0, "tmp_removed": 0, "set_aside_restored": 0}
    time.sleep(2.2)  # past the grace period (object times are whole seconds)

    counts = sweep_orphans()

    assert (counts["files_removed"], counts["derived_removed"]) == (1, 1)
    assert s3_server.keys(bucket) == sorted(
        [storage.file_key(kept.sha256, kept.extension), storage.derived_key(kept.media_id, THUMBNAIL)]
    )
    assert not storage.cache.file_path(orphan.sha256, orphan.extension).exists()
