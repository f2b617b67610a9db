"""The orphan sweep: stored files without a row are removed once older than the grace period;
a file a row points at, or a younger one, never is."""

from __future__ import annotations

import os
import time
from pathlib import Path

from appliance.core.services import AppServices
from appliance.ops.settings import SchedulerSettings
from appliance.queue.jobs import sweep_orphans
from tests.queue.conftest import MakeCtx, Samples, add_folder, add_media

GRACE = 600.0


def age(path: Path, seconds: float = 2 * GRACE) -> Path:
    old = time.time() - seconds
    os.utime(path, (old, old))
    return path


def orphan_upload(ctx: AppServices, sample: Path) -> Path:
    """What an upload killed before its rows were written leaves: the stored content."""
    with sample.open("rb") as fh:
        return ctx.storage.ingest(fh, sample.name).path


def test_files_without_rows_are_removed_after_the_grace_period(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(scheduler=SchedulerSettings(orphan_grace_seconds=GRACE))
    folder = add_folder(ctx)
    kept_media = add_media(ctx, folder, samples.jpeg)
    kept_file = age(ctx.storage.path_for(kept_media.sha256, kept_media.extension))
    kept_thumbnail = ctx.storage.thumbnail_path(kept_media.media_id)
    kept_thumbnail.parent.mkdir(parents=True)
    kept_thumbnail.write_bytes(b"jpeg")
    age(kept_thumbnail.parent)
    old_orphan = age(orphan_upload(ctx, samples.mp4))
    young_orphan = orphan_upload(ctx, samples.dark_jpeg)
    old_derived = ctx.storage.thumbnail_path("killed-upload-media")
    old_derived.parent.mkdir(parents=True)
    old_derived.write_bytes(b"jpeg")
    age(old_derived.parent)
    young_derived = ctx.storage.thumbnail_path("upload-in-progress")
    young_derived.parent.mkdir(parents=True)
    young_derived.write_bytes(b"jpeg")
    tmp = ctx.settings.storage_path / "tmp"
    old_tmp, young_tmp = tmp / "ingest-old", tmp / "ingest-young"
    for leftover in (old_tmp, young_tmp):
        leftover.write_bytes(b"partial")
    age(old_tmp)

    assert sweep_orphans() == {"files_removed": 1, "derived_removed": 1, "tmp_removed": 1, "set_aside_restored": 0}

    assert not old_orphan.exists() and not old_derived.parent.exists() and not old_tmp.exists()
    assert kept_file.is_file() and kept_thumbnail.is_file()
    assert young_orphan.is_file() and young_derived.is_file() and young_tmp.is_file()
    assert sweep_orphans() == {"files_removed": 0, "derived_removed": 0, "tmp_removed": 0, "set_aside_restored": 0}


def test_content_uploaded_again_is_young_again(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(scheduler=SchedulerSettings(orphan_grace_seconds=GRACE))
    orphan = age(orphan_upload(ctx, samples.jpeg))
    assert orphan_upload(ctx, samples.jpeg) == orphan  # the same content, found in place and touched
    assert sweep_orphans()["files_removed"] == 0
    assert orphan.is_file()


def test_an_upload_that_comes_while_the_file_is_out_of_sight_keeps_it(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(scheduler=SchedulerSettings(orphan_grace_seconds=GRACE))
    orphan = age(orphan_upload(ctx, samples.jpeg))
    folder = add_folder(ctx)
    uploaded = []

    def unused() -> bool:
        uploaded.append(add_media(ctx, folder, samples.jpeg))  # stores the content anew, and its row
        return ctx.store.count_media_with_sha256(uploaded[0].sha256) == 0

    assert not ctx.storage.remove_unused(orphan, time.time() - GRACE, unused)
    assert orphan.is_file() and ctx.store.get_media(uploaded[0].media_id) is not None
    assert ctx.storage.restore_set_aside() == 0


def test_a_file_a_killed_sweep_set_aside_is_put_back(make_ctx: MakeCtx, samples: Samples) -> None:
    ctx = make_ctx(scheduler=SchedulerSettings(orphan_grace_seconds=GRACE))
    folder = add_folder(ctx)
    media = add_media(ctx, folder, samples.jpeg)
    path = age(ctx.storage.path_for(media.sha256, media.extension))
    aside = ctx.settings.storage_path / "tmp" / "sweep" / f"0123abcd-{path.name}"
    aside.parent.mkdir(parents=True)
    path.rename(aside)  # the sweep was killed with the file out of sight

    assert sweep_orphans()["set_aside_restored"] == 1
    assert path.is_file() and not aside.exists()
