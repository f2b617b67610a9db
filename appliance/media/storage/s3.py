"""The object storage backend: media files in an S3-compatible bucket (SeaweedFS, MinIO, Garage,
AWS S3), through boto3 (the `s3` extra). docs/object-storage.md tells how to set it up.

Keys are the local backend's names under `storage.prefix`: `files/<sha[:2]>/<sha[2:4]>/<sha>.<ext>`
and `derived/<id[:2]>/<media_id>/<name>`. An upload is received and checked in this host's tmp/ as
with the local backend, then PUT whole under its content's key (a PUT is atomic: an object is
there whole or not at all); the PUT is conditional (`If-None-Match: *`), so of two uploads of the
same content exactly one reports `created`, and identical content is stored once. The checked file
then moves into the local cache (`cache.py`), where this host's workers find it without a fetch.

Whatever fails on the way to the bucket (no answer, a timeout, an error status, credentials
refused) is `STORAGE_UNAVAILABLE` (503) for a caller, logged with its cause for the operator;
a missing object is NOT_EXIST where it is served and FileNotFoundError where it is read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO, NoReturn

from appliance.domain.errors import AppError, ErrorCode
from appliance.media.storage.base import (
    MEDIA_ID,
    SHA256,
    Served,
    StoredFile,
    check_content_name,
    check_derived_name,
    check_media_id,
)
from appliance.media.storage.cache import LocalCache
from appliance.media.storage.local import receive_checked
from appliance.ops.settings import Limits, StorageSettings

__all__ = ["ObjectStoreUnavailable", "S3MediaStorage", "s3_client"]

log = logging.getLogger(__name__)

_CHUNK_BYTES = 256 * 1024
#: Error codes of an object that is not there.
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
#: Error codes of a conditional write that found the object there.
_EXISTS = frozenset({"PreconditionFailed", "412", "ConditionalRequestConflict"})
#: What a caller is told; the cause goes to the log.
UNAVAILABLE_MESSAGE = "the media storage does not answer; try again shortly"
#: Seconds a client is asked to wait before it tries again.
RETRY_AFTER_SECONDS = 5


class ObjectStoreUnavailable(AppError):
    """STORAGE_UNAVAILABLE: the bucket did not take or give what was asked."""

    def __init__(self, cause: str) -> None:
        super().__init__(
            ErrorCode.STORAGE_UNAVAILABLE, UNAVAILABLE_MESSAGE, {"retry_after_seconds": RETRY_AFTER_SECONDS}
        )
        self.cause = cause


def s3_client(settings: StorageSettings) -> Any:
    """A boto3 S3 client for these settings (thread-safe once made). ImportError naming the
    extra when boto3 is not installed."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError as exc:  # pragma: no cover - the s3 extra is installed where the backend is used
        raise ImportError("storage.backend = s3 needs boto3: install the appliance with its `s3` extra") from exc
    config = Config(
        signature_version="s3v4",
        s3={"addressing_style": settings.addressing_style},
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        retries={"max_attempts": settings.max_attempts, "mode": "standard"},
        # botocore 1.36+ adds CRC checksums to every PUT by default, which some S3-compatible
        # servers refuse or store as part of the object; send them only where an API requires one.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        tcp_keepalive=True,
        max_pool_connections=32,
    )
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=settings.endpoint_url or None,
        region_name=settings.region or None,
        aws_access_key_id=settings.access_key_id or None,
        aws_secret_access_key=settings.secret_access_key or None,
        config=config,
    )


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        error = response.get("Error", {})
        code = str(error.get("Code", ""))
        if code:
            return code
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(status or "")
    return ""


class S3MediaStorage:
    """`MediaStorage` in an S3-compatible bucket (module docstring)."""

    def __init__(
        self,
        root: Path,
        limits: Limits,
        settings: StorageSettings,
        cache_root: Path,
        *,
        client: Any = None,
        keep_seconds: float = 60.0,
    ) -> None:
        self.root = root
        self.limits = limits
        self.settings = settings
        self.bucket = settings.bucket
        self.prefix = settings.prefix
        self.cache = LocalCache(cache_root, settings.cache_max_bytes, keep_seconds=keep_seconds)
        self._tmp = root / "tmp"
        self._client = client
        self._client_lock = threading.Lock()
        # What the exceptions of the client are, known once boto3 is imported (with the client).
        self._client_error: type[Exception] = Exception
        self._core_error: type[Exception] = Exception

    @property
    def spool_dir(self) -> Path:
        return self._tmp

    def describe(self) -> str:
        where = self.settings.endpoint_url or "AWS S3"
        return f"bucket {self.bucket} at {where}" + (f" under {self.prefix}" if self.prefix else "")

    @property
    def client(self) -> Any:
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = s3_client(self.settings)
        if self._core_error is Exception:
            from botocore.exceptions import BotoCoreError, ClientError

            self._client_error, self._core_error = ClientError, BotoCoreError
        return self._client

    # Keys ---------------------------------------------------------------------------------------

    def file_key(self, sha256: str, extension: str) -> str:
        check_content_name(sha256, extension)
        return f"{self.prefix}files/{sha256[:2]}/{sha256[2:4]}/{sha256}.{extension}"

    def derived_prefix(self, media_id: str) -> str:
        check_media_id(media_id)
        return f"{self.prefix}derived/{media_id[:2]}/{media_id}/"

    def derived_key(self, media_id: str, name: str) -> str:
        check_derived_name(name)
        return self.derived_prefix(media_id) + name

    # Content files ------------------------------------------------------------------------------

    def ingest(self, source: BinaryIO, original_name: str) -> StoredFile:
        with receive_checked(source, original_name, self._tmp, self.limits) as (tmp, sha256, size, probe, thumbnail):
            created = self._put_new(self.file_key(sha256, probe.extension), tmp, probe.mime_type)
            try:
                path = self.cache.adopt(sha256, probe.extension, tmp)
            except OSError as exc:  # a full or broken cache costs a fetch later, not the upload
                log.warning("an upload could not be kept in the storage cache: %s", exc)
                path = tmp
            return StoredFile(sha256, probe.extension, size, created, probe, path, thumbnail)

    def discard(self, stored: StoredFile) -> None:
        if stored.created:
            self.delete_file(stored.sha256, stored.extension)

    def delete_file(self, sha256: str, extension: str) -> None:
        key = self.file_key(sha256, extension)
        self.cache.drop(sha256, extension)
        self._call("delete", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    def local_path(self, sha256: str, extension: str) -> Path:
        cached = self.cache.get(sha256, extension)
        if cached is not None:
            return cached
        key = self.file_key(sha256, extension)

        def download(out: Any) -> None:
            response = self._call("get", lambda: self.client.get_object(Bucket=self.bucket, Key=key), missing=True)
            body = response["Body"]
            try:
                for chunk in body.iter_chunks(_CHUNK_BYTES):
                    out.write(chunk)
            except self._core_error as exc:
                self._unavailable("get", exc)
            finally:
                body.close()

        return self.cache.fill(sha256, extension, download)

    def serve_file(self, sha256: str, extension: str) -> Served:
        if not self.settings.presigned_urls:
            cached = self.cache.get(sha256, extension)
            if cached is not None:
                return Served(path=cached)
        return self._serve(self.file_key(sha256, extension))

    # Derived files ------------------------------------------------------------------------------

    def put_derived(self, media_id: str, name: str, data: bytes) -> None:
        key = self.derived_key(media_id, name)
        self._call("put", lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=data, **_typed(name)))

    @contextlib.contextmanager
    def _derived_target(self, media_id: str, name: str) -> Iterator[Path]:
        key = self.derived_key(media_id, name)
        self._tmp.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=self._tmp, prefix="derived-", suffix=Path(name).suffix)
        os.close(fd)
        path = Path(temp)
        try:
            yield path
            with path.open("rb") as body:
                self._call(
                    "put", lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body, **_typed(name))
                )
        finally:
            path.unlink(missing_ok=True)

    def derived_target(self, media_id: str, name: str) -> AbstractContextManager[Path]:
        return self._derived_target(media_id, name)

    def serve_derived(self, media_id: str, name: str) -> Served:
        return self._serve(self.derived_key(media_id, name))

    def delete_derived(self, media_id: str) -> None:
        self.cache.drop_tracks(media_id)
        prefix = self.derived_prefix(media_id)
        keys = [key for key, _ in self._list(prefix)]
        for start in range(0, len(keys), 1000):
            self._delete_batch(keys[start : start + 1000])

    def track_cache_dir(self, media_id: str) -> Path:
        return self.cache.track_dir(media_id)

    def _delete_batch(self, keys: list[str]) -> None:
        objects = [{"Key": key} for key in keys]
        self._call(
            "delete", lambda: self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": objects, "Quiet": True})
        )

    # The orphan sweep ---------------------------------------------------------------------------

    def files_older_than(self, cutoff: float) -> Iterator[tuple[str, Any]]:
        for key, modified in self._list(f"{self.prefix}files/"):
            sha256 = key.rpartition("/")[2].partition(".")[0]
            if SHA256.fullmatch(sha256) and modified < cutoff:
                yield sha256, key

    def remove_unused(self, item: Any, cutoff: float, unused: Callable[[], bool]) -> bool:
        """Remove the object `item` (a key) if it is still older than `cutoff` and `unused()`.

        An upload that found the content stored wrote it again (`_put_new`), so it reads young
        here. An object has no atomic rename to hold it out of sight as the local backend does: an
        upload of the same content that lands between the last look and the delete (a few
        milliseconds, for content unused for `orphan_grace_seconds`) finds it gone on its first read
        (ANALYSIS_MEDIA_MISSING) rather than never; docs/object-storage.md says so.
        """
        key = str(item)
        head = self._call("head", lambda: self.client.head_object(Bucket=self.bucket, Key=key), missing=False)
        if head is None or head["LastModified"].timestamp() >= cutoff or not unused():
            return False
        self._call("delete", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))
        name = key.rpartition("/")[2]
        with contextlib.suppress(ValueError):
            self.cache.drop(name.partition(".")[0], name.partition(".")[2])
        return True

    def restore_set_aside(self) -> int:
        return 0  # nothing is ever set aside in a bucket

    def derived_older_than(self, cutoff: float) -> Iterator[str]:
        newest: dict[str, float] = {}
        for key, modified in self._list(f"{self.prefix}derived/"):
            parts = key[len(self.prefix) :].split("/")
            if len(parts) >= 4 and MEDIA_ID.fullmatch(parts[2]):
                newest[parts[2]] = max(newest.get(parts[2], 0.0), modified)
        for media_id, modified in sorted(newest.items()):
            if modified < cutoff:
                yield media_id

    def clean_tmp(self, max_age_seconds: float = 3600.0) -> int:
        cutoff = time.time() - max_age_seconds
        removed = 0
        for directory in (self._tmp, self.cache.root / "tmp"):
            if not directory.is_dir():
                continue
            for path in directory.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
        return removed

    # Operations ---------------------------------------------------------------------------------

    def check_writable(self) -> None:
        """This host's tmp/ and cache take writes, and the bucket answers."""
        self._tmp.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self._tmp):
            pass
        self.cache.writable()
        self._call("head", lambda: self.client.head_bucket(Bucket=self.bucket))

    def probe_object(self) -> None:
        """Write, read back and delete a probe object (the doctor's check); STORAGE_UNAVAILABLE
        naming the step that failed."""
        key = f"{self.prefix}doctor/probe-{uuid.uuid4().hex}"
        body = uuid.uuid4().bytes
        self._call("put", lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body))
        try:
            got = self._call("get", lambda: self.client.get_object(Bucket=self.bucket, Key=key), missing=True)
            if got["Body"].read() != body:
                raise ObjectStoreUnavailable(f"the probe object {key} read back different bytes")
        finally:
            self._call("delete", lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    # Helpers ------------------------------------------------------------------------------------

    def _put_new(self, key: str, path: Path, content_type: str) -> bool:
        """PUT `path` under `key` if no object is there (True); if one is, write it again, so that
        its age says it is in use (the orphan sweep reads it), and False."""
        with path.open("rb") as body:
            with contextlib.suppress(_AlreadyThere):
                self._call(
                    "put",
                    lambda: self.client.put_object(
                        Bucket=self.bucket, Key=key, Body=body, ContentType=content_type, IfNoneMatch="*"
                    ),
                    conditional=True,
                )
                return True
            body.seek(0)
            self._call(
                "put", lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)
            )
        return False

    def _serve(self, key: str) -> Served:
        if self.settings.presigned_urls:
            self._call("head", lambda: self.client.head_object(Bucket=self.bucket, Key=key), missing=True, served=True)
            url = self.client.generate_presigned_url(
                "get_object",
                Params={"Bucket": self.bucket, "Key": key},
                ExpiresIn=self.settings.presigned_url_ttl_seconds,
            )
            return Served(redirect_url=url)
        response = self._call(
            "get", lambda: self.client.get_object(Bucket=self.bucket, Key=key), missing=True, served=True
        )
        return Served(chunks=self._chunks(response["Body"]), size=int(response["ContentLength"]))

    def _chunks(self, body: Any) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(_CHUNK_BYTES)
        finally:
            body.close()

    def _list(self, prefix: str) -> Iterator[tuple[str, float]]:
        """(key, last modified as a `time.time()`) of every object under `prefix`."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = iter(paginator.paginate(Bucket=self.bucket, Prefix=prefix))
        while True:
            page = self._call("list", lambda: next(pages, None))
            if page is None:
                return
            for item in page.get("Contents", ()):
                yield item["Key"], item["LastModified"].timestamp()

    def _call(
        self,
        action: str,
        request: Callable[[], Any],
        *,
        missing: bool | None = None,
        served: bool = False,
        conditional: bool = False,
    ) -> Any:
        """Run one request. A missing object: FileNotFoundError (`missing=True`), NOT_EXIST
        (`served` too), None (`missing=False`), or no error at all (a delete). Anything else that
        fails: STORAGE_UNAVAILABLE."""
        client = self.client
        del client  # made (and its exception types known) before the request runs
        try:
            return request()
        except self._client_error as exc:
            code = _error_code(exc)
            if code in _MISSING and missing is not None:
                if served:
                    raise AppError(ErrorCode.NOT_EXIST, "file not found") from exc
                if missing:
                    raise FileNotFoundError(f"no object for this {action}") from exc
                return None
            if conditional and code in _EXISTS:
                raise _AlreadyThere from exc
            self._unavailable(action, exc)
        except self._core_error as exc:
            self._unavailable(action, exc)

    def _unavailable(self, action: str, exc: Exception) -> NoReturn:
        code = _error_code(exc)
        kind = f"{type(exc).__name__}: {code}" if code else type(exc).__name__
        cause = f"{action} in {self.describe()} failed: {_hint(code, exc)} ({kind})"
        log.warning("media storage: %s", cause)
        raise ObjectStoreUnavailable(cause) from exc


_CREDENTIALS_REFUSED = frozenset(
    {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken"}
)


def _hint(code: str, exc: Exception) -> str:
    """What an operator should look at, from the error's code (or its kind, without one)."""
    if code in _CREDENTIALS_REFUSED:
        return "the endpoint refused the credentials (storage.access_key_id, storage.secret_access_key)"
    if code in ("NoSuchBucket", "404"):
        return "no such bucket, or no such object (storage.bucket)"
    if code:
        return "the endpoint answered with an error"
    return f"the endpoint does not answer ({exc})"


class _AlreadyThere(Exception):
    """A conditional PUT found the object there."""


def _typed(name: str) -> dict[str, str]:
    suffix = Path(name).suffix
    content_type = {".jpg": "image/jpeg", ".mp4": "video/mp4"}.get(suffix)
    return {"ContentType": content_type} if content_type else {}
