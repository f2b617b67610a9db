"""The orphan sweep: stored files without a database row, removed after a grace period.

A process killed mid-upload leaves the files it stored (content under files/, the thumbnail under
derived/) without the rows that would name them, since the rows come last and in one transaction;
one killed mid-deletion leaves files whose rows are gone (rows go first, `core/folders.py`). The
sweep removes such files once they are older than `scheduler.orphan_grace_seconds`: a younger one
may belong to an upload whose rows are not written yet. A content file is judged out of sight
(`MediaStorage.remove_unused`), so an upload of the same content meanwhile keeps it. The same
sweep runs over either backend: a local directory, or the objects of a bucket.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

from appliance.media import MediaStorage
from appliance.store.protocol import Store

__all__ = ["sweep_orphan_files"]

#: Names looked up in the database per query.
BATCH = 500

T = TypeVar("T")


def _batches(items: Iterable[T]) -> Iterator[list[T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, BATCH)):
        yield batch


def _unused(store: Store, sha256: str) -> bool:
    return store.count_media_with_sha256(sha256) == 0


def sweep_orphan_files(store: Store, storage: MediaStorage, grace_seconds: float) -> dict[str, int]:
    """Remove content files no media row points at, derived directories of media that have no row
    and upload leftovers in tmp/, each older than `grace_seconds`; how many of each."""
    cutoff = time.time() - grace_seconds
    restored = storage.restore_set_aside()
    files = 0
    for batch in _batches(storage.files_older_than(cutoff)):
        _, used = store.media_present(sha256s=[sha256 for sha256, _ in batch])
        for sha256, item in batch:
            if sha256 not in used and storage.remove_unused(item, cutoff, functools.partial(_unused, store, sha256)):
                files += 1
    derived = 0
    for media_ids in _batches(storage.derived_older_than(cutoff)):
        present, _ = store.media_present(media_ids=media_ids)
        for media_id in media_ids:
            if media_id not in present:
                storage.delete_derived(media_id)
                derived += 1
    return {
        "files_removed": files,
        "derived_removed": derived,
        "tmp_removed": storage.clean_tmp(grace_seconds),
        "set_aside_restored": restored,
    }
