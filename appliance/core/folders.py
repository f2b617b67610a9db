"""A folder's life beyond one request: deleting it with its files (the API's DELETE and the
retention job), and waiting for its result (a single request, an operator's decision).

Deleting: rows go first, in one store call; files after. A crash in between leaves files without rows
(wasted space, never a row pointing at nothing). A stored file is content-addressed by sha256
and may back media of other folders, so it is deleted only when no media row references it. When
the object storage does not answer once the rows are gone, the folder is deleted all the same and
its files are left to the orphan sweep (core/orphans.py), which finds them without rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from appliance.domain.entities import Folder
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.rules import FINAL_FOLDER_STATUSES
from appliance.media import MediaStorage
from appliance.store.protocol import Store

__all__ = ["delete_folder_and_files", "wait_for_folder", "wait_until_final"]

log = logging.getLogger(__name__)

#: The longest pause between two reads of a folder whose result someone waits for.
POLL_MAX_SECONDS = 0.1


def delete_folder_and_files(store: Store, storage: MediaStorage, folder_id: str) -> bool:
    """Delete the folder, its rows and the files only it used. False if there was no such folder."""
    if store.get_folder(folder_id) is None:
        return False
    removed = store.delete_folder(folder_id)
    try:
        for media in removed:
            storage.delete_derived(media.media_id)
        for sha256, extension in {(m.sha256, m.extension) for m in removed}:
            if store.count_media_with_sha256(sha256) == 0:
                storage.delete_file(sha256, extension)
    except AppError as exc:
        if exc.code is not ErrorCode.STORAGE_UNAVAILABLE:
            raise
        log.warning("folder %s deleted; its files are left to the orphan sweep: %s", folder_id, exc.message)
    return True


def wait_until_final(store: Store, folder_id: str, timeout_seconds: float) -> Folder | None:
    """Poll until the folder has a final status or `timeout_seconds` pass; the folder as it is then."""
    return wait_for_folder(store, folder_id, timeout_seconds, lambda f: f.resolution_status in FINAL_FOLDER_STATUSES)


def wait_for_folder(
    store: Store, folder_id: str, timeout_seconds: float, ready: Callable[[Folder], bool]
) -> Folder | None:
    """Poll until the folder is `ready` (or gone) or `timeout_seconds` pass; the folder as it is then.

    The folder is read every `POLL_MAX_SECONDS` at most: the caller waits for the answer, and a
    longer pause would add to every single request's latency (and keep a client from sending its
    next folder) for the sake of one primary-key read.
    """
    deadline = time.monotonic() + timeout_seconds
    delay = 0.02
    while True:
        folder = store.get_folder(folder_id)
        if folder is None or ready(folder) or time.monotonic() >= deadline:
            return folder
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, POLL_MAX_SECONDS)
