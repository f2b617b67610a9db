"""Deleting a folder with its files: shared by the API's DELETE and the retention job.

Rows go first, in one store call; files after. A crash in between leaves files without rows
(wasted space, never a row pointing at nothing). A stored file is content-addressed by sha256
and may back media of other folders, so it is deleted only when no media row references it.
"""

from __future__ import annotations

from appliance.media import MediaStorage
from appliance.store.protocol import Store

__all__ = ["delete_folder_and_files"]


def delete_folder_and_files(store: Store, storage: MediaStorage, folder_id: str) -> bool:
    """Delete the folder, its rows and the files only it used. False if there was no such folder."""
    if store.get_folder(folder_id) is None:
        return False
    removed = store.delete_folder(folder_id)
    for media in removed:
        storage.delete_derived(media.media_id)
    for sha256, extension in {(m.sha256, m.extension) for m in removed}:
        if store.count_media_with_sha256(sha256) == 0:
            storage.delete_file(sha256, extension)
    return True
