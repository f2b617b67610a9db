from __future__ import annotations

import hashlib
import io
import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from appliance.domain.errors import AppError, ErrorCode
from appliance.media import LocalMediaStorage, StoredFile
from appliance.ops.settings import Limits
from tests.support.media_samples import VALID_FACTS


def _ingest_path(storage: LocalMediaStorage, path: Path) -> StoredFile:
    with path.open("rb") as fh:
        return storage.ingest(fh, path.name)


def _assert_nothing_left(storage: LocalMediaStorage) -> None:
    assert list((storage.root / "tmp").iterdir()) == []
    assert list(storage.iter_files()) == []
    assert [p for p in (storage.root / "files").rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("name", sorted(VALID_FACTS))
def test_valid_samples_are_stored_under_their_hash(
    name: str, storage: LocalMediaStorage, valid_samples: dict[str, Path]
) -> None:
    path = valid_samples[name]
    facts = VALID_FACTS[name]
    stored = _ingest_path(storage, path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    assert (stored.sha256, stored.extension, stored.size_bytes, stored.created) == (
        sha256,
        facts.extension,
        path.stat().st_size,
        True,
    )
    assert (stored.probe.kind, stored.probe.mime_type) == (facts.kind, facts.mime_type)
    assert (stored.probe.width, stored.probe.height, stored.probe.frame_count) == (
        facts.width,
        facts.height,
        facts.frame_count,
    )
    expected = storage.root / "files" / sha256[:2] / sha256[2:4] / f"{sha256}.{facts.extension}"
    assert stored.path == expected == storage.path_for(sha256, facts.extension)
    assert expected.read_bytes() == path.read_bytes()
    assert list(storage.iter_files()) == [expected]
    assert list((storage.root / "tmp").iterdir()) == []


def test_same_content_is_stored_once(storage: LocalMediaStorage, valid_samples: dict[str, Path]) -> None:
    first = _ingest_path(storage, valid_samples["jpeg"])
    again = storage.ingest(io.BytesIO(valid_samples["jpeg"].read_bytes()), "renamed.png")
    assert first.created and not again.created
    assert (again.sha256, again.extension, again.path) == (first.sha256, first.extension, first.path)
    storage.discard(again)  # not created by that call: kept
    assert first.path.exists()
    storage.discard(first)
    assert not first.path.exists()
    assert list(storage.iter_files()) == []


def test_concurrent_uploads_of_one_content_create_it_once(
    storage: LocalMediaStorage, valid_samples: dict[str, Path]
) -> None:
    content = valid_samples["webp"].read_bytes()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda i: storage.ingest(io.BytesIO(content), f"upload{i}.webp"), range(8)))
    assert sum(stored.created for stored in results) == 1
    assert len({stored.path for stored in results}) == 1
    assert list((storage.root / "tmp").iterdir()) == []


def test_spooled_temporary_file_is_accepted(storage: LocalMediaStorage, valid_samples: dict[str, Path]) -> None:
    content = valid_samples["mp4"].read_bytes()
    with tempfile.SpooledTemporaryFile(max_size=1024) as spooled:
        spooled.write(content)
        spooled.seek(0)
        stored = storage.ingest(spooled, "clip.mov")
    assert (stored.extension, stored.size_bytes) == ("mp4", len(content))


def test_malformed_samples_are_refused_and_leave_nothing(
    storage: LocalMediaStorage, malformed_samples: dict[str, tuple[Path, ErrorCode]]
) -> None:
    for name, (path, code) in malformed_samples.items():
        with pytest.raises(AppError) as caught:
            _ingest_path(storage, path)
        assert caught.value.code is code, name
        assert caught.value.details == {"original_name": path.name}, name
        _assert_nothing_left(storage)


class _EndlessStream(io.RawIOBase):
    """An upload that never ends: ingest must stop at the limit instead of reading it all."""

    def __init__(self) -> None:
        self.delivered = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        buffer[:] = b"\xff" * len(buffer)
        self.delivered += len(buffer)
        return len(buffer)


def test_size_limit_stops_reading(tmp_path: Path) -> None:
    limits = Limits(max_file_bytes=3 * 1024 * 1024)
    storage = LocalMediaStorage(tmp_path / "media", limits)
    stream = _EndlessStream()
    with pytest.raises(AppError) as caught:
        storage.ingest(stream, "endless.jpg")  # type: ignore[arg-type]
    assert caught.value.code is ErrorCode.MEDIA_TOO_LARGE
    assert stream.delivered <= limits.max_file_bytes + 2 * 1024 * 1024
    _assert_nothing_left(storage)


def test_exact_size_limit_is_accepted(tmp_path: Path, valid_samples: dict[str, Path]) -> None:
    size = valid_samples["jpeg"].stat().st_size
    assert _ingest_path(LocalMediaStorage(tmp_path / "a", Limits(max_file_bytes=size)), valid_samples["jpeg"]).created
    with pytest.raises(AppError) as caught:
        _ingest_path(LocalMediaStorage(tmp_path / "b", Limits(max_file_bytes=size - 1)), valid_samples["jpeg"])
    assert caught.value.code is ErrorCode.MEDIA_TOO_LARGE


def test_delete_file_is_idempotent(storage: LocalMediaStorage, valid_samples: dict[str, Path]) -> None:
    stored = _ingest_path(storage, valid_samples["png"])
    storage.delete_file(stored.sha256, stored.extension)
    storage.delete_file(stored.sha256, stored.extension)
    assert not stored.path.exists()


@pytest.mark.parametrize(
    ("sha256", "extension"),
    [("../" + "a" * 61, "jpg"), ("A" * 64, "jpg"), ("a" * 63, "jpg"), ("a" * 64, "../x"), ("a" * 64, "")],
)
def test_path_for_refuses_names_that_are_not_hashes(storage: LocalMediaStorage, sha256: str, extension: str) -> None:
    with pytest.raises(ValueError):
        storage.path_for(sha256, extension)


def test_derived_paths_and_deletion(storage: LocalMediaStorage) -> None:
    media_id = "3f2b8c1e-0d4a-4a8e-9b7c-5d6e7f8a9b0c"
    base = storage.root / "derived" / "3f" / media_id
    assert storage.thumbnail_path(media_id) == base / "thumbnail.jpg"
    assert storage.preview_path(media_id) == base / "preview.mp4"
    assert storage.output_dir(media_id) == base / "outputs"
    storage.output_dir(media_id).mkdir(parents=True)
    (storage.output_dir(media_id) / "best_shot.jpg").write_bytes(b"x")
    storage.thumbnail_path(media_id).write_bytes(b"x")
    storage.delete_derived(media_id)
    assert not base.exists()
    storage.delete_derived(media_id)  # idempotent
    for bad in ("../etc", "a/b", "", "."):
        with pytest.raises(ValueError):
            storage.derived_dir(bad)


def test_check_writable(tmp_path: Path) -> None:
    storage = LocalMediaStorage(tmp_path / "media", Limits())
    storage.check_writable()
    assert [p for p in storage.root.rglob("*") if p.is_file()] == []
    blocker = tmp_path / "not_a_dir"
    blocker.write_bytes(b"")
    with pytest.raises(OSError):
        LocalMediaStorage(blocker, Limits()).check_writable()


def test_clean_tmp_removes_only_old_leftovers(storage: LocalMediaStorage) -> None:
    assert storage.clean_tmp() == 0
    tmp = storage.root / "tmp"
    tmp.mkdir(parents=True)
    old, fresh = tmp / "ingest-old", tmp / "ingest-fresh"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"in progress")
    an_hour_ago = time.time() - 7200
    os.utime(old, (an_hour_ago, an_hour_ago))
    assert storage.clean_tmp(max_age_seconds=3600) == 1
    assert sorted(tmp.iterdir()) == [fresh]
