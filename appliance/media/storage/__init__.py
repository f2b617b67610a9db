"""Media storage: one protocol (`MediaStorage`), two backends, and `open_storage`, which picks
the backend the settings name. See base.py for the names files are stored under."""

from __future__ import annotations

from appliance.media.storage.base import MediaStorage, Served, StoredFile
from appliance.media.storage.local import LocalMediaStorage
from appliance.ops.settings import Settings

__all__ = ["LocalMediaStorage", "MediaStorage", "Served", "StoredFile", "open_storage"]


def open_storage(settings: Settings) -> MediaStorage:
    """The media storage of `settings.storage.backend`: the local directory `storage_root`, or an
    S3-compatible bucket with its cache (boto3 is imported only then)."""
    if settings.storage.backend == "s3":
        from appliance.media.storage.s3 import S3MediaStorage

        return S3MediaStorage(settings.storage_path, settings.limits, settings.storage, settings.storage_cache_path)
    return LocalMediaStorage(settings.storage_path, settings.limits)
