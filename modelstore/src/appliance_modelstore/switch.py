"""The atomic switch of a model's active version (docs/model-store.md, "Switching the active version").

A link to the bare version is made beside `active` under a hidden name, then renamed over `active`
(`rename(2)` is atomic), and the model's directory is fsynced. A reader's `readlink` sees the old
version or the new one, never neither. Every writer of a store switches through here: the updater
(inside its journal) and the tools that build a store directory.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from appliance_modelstore.files import fsync_dir
from appliance_modelstore.layout import ACTIVE_LINK, ACTIVE_TEMP_PREFIX

__all__ = ["switch_active"]


def switch_active(model_dir: Path, version: str | None) -> None:
    """Point `<model_dir>/active` at `version` (None: remove it, the model then has no active version).
    The caller has checked the version; a link already pointing there is left alone."""
    link = model_dir / ACTIVE_LINK
    try:
        current: str | None = os.readlink(link)
    except (FileNotFoundError, NotADirectoryError):
        current = None
    if current == version:
        return
    if version is None:
        link.unlink(missing_ok=True)
    else:
        temp = model_dir / f"{ACTIVE_TEMP_PREFIX}{secrets.token_hex(8)}"
        os.symlink(version, temp)
        try:
            os.replace(temp, link)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    fsync_dir(model_dir)
