"""The object storage check: with `storage.backend = "s3"`, the bucket answers, takes the
credentials, and a probe object can be written, read back and deleted; the local cache takes writes.
With the local backend there is nothing to check here (the storage check covers the directory)."""

from __future__ import annotations

import shutil
import time

from appliance.doctor.context import DoctorContext
from appliance.doctor.report import verdict
from appliance.domain.errors import AppError
from appliance.media.storage import open_storage
from appliance.sdk.types import DoctorCheck

__all__ = ["check_object_storage"]


def check_object_storage(ctx: DoctorContext) -> DoctorCheck:
    """The bucket of `storage.*` reachable with its credentials: a probe object written, read back
    and deleted; the cache directory writable, and its cap within the free space there."""
    settings = ctx.settings
    if settings.storage.backend != "s3":
        return DoctorCheck("object-storage", "ok", f"not used: media in the directory {settings.storage_path}")
    from appliance.media.storage.s3 import ObjectStoreUnavailable, S3MediaStorage

    problems: list[str] = []
    warnings: list[str] = []
    if not settings.storage.access_key_id or not settings.storage.secret_access_key:
        warnings.append(
            "storage.access_key_id or storage.secret_access_key is empty: boto3 looks for credentials itself"
        )
    try:
        storage = open_storage(settings)
    except ImportError as exc:
        return DoctorCheck("object-storage", "fail", str(exc))
    assert isinstance(storage, S3MediaStorage)
    started = time.monotonic()
    try:
        storage.check_writable()  # the bucket answers to these credentials
        storage.probe_object()  # a write, a read, a delete
    except ObjectStoreUnavailable as exc:
        problems.append(exc.cause)
    except AppError as exc:  # the cause of a wrapped failure
        problems.append(getattr(exc.__cause__, "cause", exc.message))
    except OSError as exc:
        problems.append(f"the cache directory {storage.cache.root} takes no writes: {exc}")
    elapsed = time.monotonic() - started
    cache = storage.cache.root
    if cache.is_dir():
        free = shutil.disk_usage(cache).free
        if free < settings.storage.cache_max_bytes:
            warnings.append(
                f"storage.cache_max_bytes ({settings.storage.cache_max_bytes / 1024**3:.1f} GiB) is more than the "
                f"{free / 1024**3:.1f} GiB free at {cache}"
            )
    return verdict(
        "object-storage",
        problems,
        warnings,
        f"{storage.describe()}: a probe object written, read back and deleted in {elapsed * 1000:.0f} ms; "
        f"cache {cache} capped at {settings.storage.cache_max_bytes / 1024**3:.1f} GiB",
    )
