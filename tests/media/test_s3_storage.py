"""The object storage backend against a real S3 server (SeaweedFS, tests/support/s3_server.py):
uploads put under their content's key once, reads fetched into the bounded cache and checked,
derived files, deletions, the orphan sweep's view of a bucket, streamed and presigned serving,
and what a caller gets when the server does not answer."""

from __future__ import annotations

import hashlib
import io
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from appliance.domain.errors import AppError, ErrorCode
from appliance.media.storage import StoredFile
from appliance.media.storage.base import THUMBNAIL, output_image_name
from appliance.media.storage.s3 import S3MediaStorage
from appliance.ops.settings import Limits, StorageSettings
from tests.support.s3_server import SeaweedS3, TcpRelay

pytestmark = pytest.mark.timeout(120)


def _settings(server: SeaweedS3, bucket: str, **overrides: object) -> StorageSettings:
    values: dict[str, object] = {
        "backend": "s3",
        "endpoint_url": server.endpoint_url,
        "bucket": bucket,
        "region": server.region,
        "access_key_id": server.access_key,
        "secret_access_key": server.secret_key,
        "connect_timeout_seconds": 1.0,
        "read_timeout_seconds": 5.0,
        "max_attempts": 1,
    }
    values.update(overrides)
    return StorageSettings(**values)  # type: ignore[arg-type]


def _storage(tmp_path: Path, settings: StorageSettings, **kwargs: object) -> S3MediaStorage:
    return S3MediaStorage(tmp_path / "media", Limits(), settings, tmp_path / "cache", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def bucket(s3_server: SeaweedS3) -> str:
    return s3_server.new_bucket()


@pytest.fixture
def storage(tmp_path: Path, s3_server: SeaweedS3, bucket: str) -> S3MediaStorage:
    return _storage(tmp_path, _settings(s3_server, bucket, prefix="site-1/"))


def _ingest(storage: S3MediaStorage, path: Path, name: str | None = None) -> StoredFile:
    with path.open("rb") as fh:
        return storage.ingest(fh, name or path.name)


def _object(server: SeaweedS3, bucket: str, key: str) -> bytes:
    return server.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def test_an_upload_is_put_under_its_content_key_and_kept_in_the_cache(
    storage: S3MediaStorage, s3_server: SeaweedS3, bucket: str, valid_samples: dict[str, Path]
) -> None:
    path = valid_samples["jpeg"]
    stored = _ingest(storage, path)
    sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
    key = f"site-1/files/{sha256[:2]}/{sha256[2:4]}/{sha256}.jpg"
    assert (stored.sha256, stored.extension, stored.created) == (sha256, "jpg", True)
    assert s3_server.keys(bucket) == [key]
    assert _object(s3_server, bucket, key) == path.read_bytes()
    head = s3_server.client().head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "image/jpeg"
    # the checked file moved into this host's cache: a worker here reads it without a fetch
    assert stored.path == storage.cache.file_path(sha256, "jpg") and stored.path.read_bytes() == path.read_bytes()
    assert storage.local_path(sha256, "jpg") == stored.path
    assert list(storage.spool_dir.iterdir()) == []


def test_identical_content_is_stored_once_even_when_sent_at_once(
    storage: S3MediaStorage, s3_server: SeaweedS3, bucket: str, valid_samples: dict[str, Path]
) -> None:
    data = valid_samples["png"].read_bytes()
    first = storage.ingest(io.BytesIO(data), "a.png")
    again = storage.ingest(io.BytesIO(data), "b.png")
    assert first.created and not again.created
    with ThreadPoolExecutor(4) as pool:
        racing = list(pool.map(lambda i: storage.ingest(io.BytesIO(data), f"{i}.png"), range(4)))
    assert not any(item.created for item in racing)  # it was there already
    other = valid_samples["webp"].read_bytes()
    with ThreadPoolExecutor(4) as pool:
        racing = list(pool.map(lambda i: storage.ingest(io.BytesIO(other), f"{i}.webp"), range(4)))
    assert sum(item.created for item in racing) == 1  # the conditional PUT: exactly one stored it
    assert len(s3_server.keys(bucket)) == 2


def test_a_read_fetches_the_object_into_the_cache_and_checks_it(
    storage: S3MediaStorage, s3_server: SeaweedS3, bucket: str, valid_samples: dict[str, Path]
) -> None:
    path = valid_samples["mp4"]
    stored = _ingest(storage, path)
    storage.cache.drop(stored.sha256, stored.extension)  # as on another host
    fetched = storage.local_path(stored.sha256, stored.extension)
    assert fetched.read_bytes() == path.read_bytes()
    assert list((storage.cache.root / "tmp").iterdir()) == []
    # an object that does not hold the content its key names is refused, not cached
    key = storage.file_key(stored.sha256, stored.extension)
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=b"not the video")
    storage.cache.drop(stored.sha256, stored.extension)
    with pytest.raises(ValueError, match="does not hold that content"):
        storage.local_path(stored.sha256, stored.extension)
    assert not storage.cache.file_path(stored.sha256, stored.extension).exists()
    with pytest.raises(FileNotFoundError):
        storage.local_path("0" * 64, "jpg")


def test_the_cache_evicts_the_least_recently_used_past_its_cap(
    tmp_path: Path, s3_server: SeaweedS3, bucket: str, valid_samples: dict[str, Path]
) -> None:
    names = ["jpeg", "png", "webp", "mp4"]
    sizes = {name: valid_samples[name].stat().st_size for name in names}
    cap = sizes["png"] + sizes["webp"] + sizes["mp4"]  # room for three of the four
    storage = _storage(tmp_path, _settings(s3_server, bucket, cache_max_bytes=cap), keep_seconds=0)
    stored = {}
    for name in names:
        stored[name] = _ingest(storage, valid_samples[name])
        os.utime(stored[name].path, (time.time() - 100 + len(stored), time.time() - 100 + len(stored)))
    storage.local_path(stored["jpeg"].sha256, "jpg")  # used again now: the newest
    storage.cache.evict()
    kept = {name for name, item in stored.items() if storage.cache.file_path(item.sha256, item.extension).exists()}
    assert "jpeg" in kept and "png" not in kept  # png: the least recently used
    assert sum(sizes[name] for name in kept) <= cap
    # an evicted copy is fetched again when needed
    assert storage.local_path(stored["png"].sha256, "png").read_bytes() == valid_samples["png"].read_bytes()
    # what was used within keep_seconds stays, even past the cap
    young = _storage(tmp_path / "young", _settings(s3_server, bucket, cache_max_bytes=1), keep_seconds=60)
    kept_young = _ingest(young, valid_samples["jpeg"])
    young.cache.evict()
    assert kept_young.path.exists()


def test_derived_files_are_written_served_and_deleted_with_their_media(
    storage: S3MediaStorage, s3_server: SeaweedS3, bucket: str
) -> None:
    storage.put_derived("media-1", THUMBNAIL, b"\xff\xd8thumb")
    with storage.derived_target("media-1", output_image_name("analysis-1", "best")) as path:
        path.write_bytes(b"\xff\xd8best")
    with pytest.raises(RuntimeError), storage.derived_target("media-1", "preview.mp4") as path:
        path.write_bytes(b"half")
        raise RuntimeError("the encoder failed")
    storage.put_derived("media-2", THUMBNAIL, b"\xff\xd8other")
    assert s3_server.keys(bucket, "site-1/derived/") == [
        "site-1/derived/me/media-1/outputs/analysis-1/best.jpg",
        "site-1/derived/me/media-1/thumbnail.jpg",
        "site-1/derived/me/media-2/thumbnail.jpg",
    ]
    served = storage.serve_derived("media-1", "outputs/analysis-1/best.jpg")
    assert served.chunks is not None and served.size == 6 and b"".join(served.chunks) == b"\xff\xd8best"
    with pytest.raises(AppError) as missing:
        storage.serve_derived("media-1", "preview.mp4")
    assert missing.value.code is ErrorCode.NOT_EXIST
    with pytest.raises(ValueError):
        storage.put_derived("media-1", "../media-2/thumbnail.jpg", b"x")
    tracks = storage.track_cache_dir("media-1")
    tracks.mkdir(parents=True)
    (tracks / "track.npz").write_bytes(b"x")
    storage.delete_derived("media-1")
    assert s3_server.keys(bucket, "site-1/derived/") == ["site-1/derived/me/media-2/thumbnail.jpg"]
    assert not tracks.exists()
    storage.delete_derived("media-1")  # idempotent


def test_deleting_content_removes_the_object_and_the_cached_copy(
    storage: S3MediaStorage, s3_server: SeaweedS3, bucket: str, valid_samples: dict[str, Path]
) -> None:
    stored = _ingest(storage, valid_samples["jpeg"])
    storage.delete_file(stored.sha256, stored.extension)
    assert s3_server.keys(bucket) == [] and not stored.path.exists()
    storage.delete_file(stored.sha256, stored.extension)  # a missing one is not an error
    created = _ingest(storage, valid_samples["jpeg"])
    storage.discard(created)
    assert s3_server.keys(bucket) == []


def test_the_orphan_sweep_sees_old_objects_and_removes_only_unused_ones(
    storage: S3MediaStorage, s3_server: SeaweedS3, bucket: str, valid_samples: dict[str, Path]
) -> None:
    used = _ingest(storage, valid_samples["jpeg"])
    unused = _ingest(storage, valid_samples["png"])
    storage.put_derived("gone-media", THUMBNAIL, b"\xff\xd8")
    assert list(storage.files_older_than(time.time() - 3600)) == []  # all young
    later = time.time() + 5
    old = dict(storage.files_older_than(later))
    assert set(old) == {used.sha256, unused.sha256}
    assert not storage.remove_unused(old[used.sha256], later, lambda: False)
    assert not storage.remove_unused(old[unused.sha256], time.time() - 3600, lambda: True)  # young after all
    assert storage.remove_unused(old[unused.sha256], later, lambda: True)
    assert [key.rpartition("/")[2] for key in s3_server.keys(bucket, "site-1/files/")] == [f"{used.sha256}.jpg"]
    assert not storage.cache.file_path(unused.sha256, "png").exists()
    assert list(storage.derived_older_than(later)) == ["gone-media"]
    assert list(storage.derived_older_than(time.time() - 3600)) == []
    assert storage.restore_set_aside() == 0


def test_files_are_streamed_or_redirected_to_a_presigned_url(
    tmp_path: Path, s3_server: SeaweedS3, bucket: str, valid_samples: dict[str, Path]
) -> None:
    data = valid_samples["jpeg"].read_bytes()
    streaming = _storage(tmp_path / "a", _settings(s3_server, bucket))
    stored = streaming.ingest(io.BytesIO(data), "a.jpg")
    assert streaming.serve_file(stored.sha256, "jpg").path == stored.path  # in this host's cache
    streaming.cache.drop(stored.sha256, "jpg")
    served = streaming.serve_file(stored.sha256, "jpg")
    assert served.chunks is not None and served.size == len(data) and b"".join(served.chunks) == data
    presigning = _storage(
        tmp_path / "b", _settings(s3_server, bucket, presigned_urls=True, presigned_url_ttl_seconds=60)
    )
    served = presigning.serve_file(stored.sha256, "jpg")
    assert served.redirect_url is not None and served.redirect_url.startswith(s3_server.endpoint_url)
    assert "X-Amz-Expires=60" in served.redirect_url
    answer = httpx.get(served.redirect_url)
    assert answer.status_code == 200 and answer.content == data
    tampered = served.redirect_url.replace("X-Amz-Expires=60", "X-Amz-Expires=600")
    assert httpx.get(tampered).status_code == 403
    with pytest.raises(AppError) as missing:
        presigning.serve_file("0" * 64, "jpg")
    assert missing.value.code is ErrorCode.NOT_EXIST


def test_an_unreachable_server_is_storage_unavailable_with_nothing_left(
    tmp_path: Path, s3_server: SeaweedS3, bucket: str, valid_samples: dict[str, Path]
) -> None:
    relay = TcpRelay(("127.0.0.1", int(s3_server.endpoint_url.rpartition(":")[2])))
    try:
        storage = _storage(tmp_path, _settings(s3_server, bucket, endpoint_url=relay.url))
        storage.check_writable()
        relay.cut()
        started = time.monotonic()
        with pytest.raises(AppError) as refused:
            _ingest(storage, valid_samples["jpeg"], "selfie.jpg")
        assert time.monotonic() - started < 5
        assert refused.value.code is ErrorCode.STORAGE_UNAVAILABLE
        assert refused.value.details == {"retry_after_seconds": 5, "original_name": "selfie.jpg"}
        assert list(storage.spool_dir.iterdir()) == []
        assert [p for p in storage.cache.root.rglob("*") if p.is_file()] == []
        for call in (
            storage.check_writable,
            lambda: storage.local_path("0" * 64, "jpg"),
            lambda: storage.put_derived("media-1", THUMBNAIL, b"x"),
        ):
            with pytest.raises(AppError) as failed:
                call()
            assert failed.value.code is ErrorCode.STORAGE_UNAVAILABLE
    finally:
        relay.close()
    assert s3_server.keys(bucket) == []


def test_wrong_credentials_are_storage_unavailable(tmp_path: Path, s3_server: SeaweedS3, bucket: str) -> None:
    storage = _storage(tmp_path, _settings(s3_server, bucket, secret_access_key="not-the-secret"))
    with pytest.raises(AppError) as refused:
        storage.check_writable()
    assert refused.value.code is ErrorCode.STORAGE_UNAVAILABLE
    assert "not-the-secret" not in str(getattr(refused.value, "cause", ""))
