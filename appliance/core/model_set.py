"""Whether this host's model store serves one whole model set, read from its files at each ask
(`/api/version`'s `model_set` and `consistent`), never assumed:

- no model switch is pending: the updater's journal (`<updater_state_dir>/install.json`) is there
  only while a switch runs or after a crash cut one, when some models may be at their new version
  and others at their old one;
- every active model's card reads and names its version, and its files have the sizes and sha256
  its card gives (checked again only when a file's inode, size or mtime changed: a version
  directory never changes once installed);
- every model the active bundle lists (`.bundle.json`) is active at the version it lists (a model
  `appliance models activate` switched to another version is reported as a difference).
"""

from __future__ import annotations

import threading
from pathlib import Path

import msgspec

from appliance.runtime import ModelStore
from appliance.runtime.errors import ModelError

__all__ = ["ModelSetCheck", "ModelSetState"]

_FileStamp = tuple[int, int, int]


class ModelSetState(msgspec.Struct, frozen=True, kw_only=True):
    """What the files say: `consistent` when `problems` is empty."""

    consistent: bool
    problems: list[str]


class ModelSetCheck:
    """Checks one model store against the updater's journal; keeps which model versions it verified
    (by their files' stamps) so that a check costs a few stat calls when nothing changed."""

    def __init__(self, models: ModelStore, journal: Path) -> None:
        self._models = models
        self._journal = journal
        self._verified: dict[tuple[str, str], tuple[_FileStamp, ...]] = {}
        self._lock = threading.Lock()

    def state(self) -> ModelSetState:
        problems = []
        if self._journal.exists():
            problems.append(
                f"a model switch is in progress or was interrupted ({self._journal}): some models may be at their "
                "new version and others at their old one until `appliance-update recover` finishes it"
            )
        active: dict[str, str] = {}
        for name in self._models.names():
            try:
                version = self._models.active_version(name)
                if version is not None:
                    active[name] = version
                    self._verify(name, version)
            except (ModelError, OSError) as exc:
                problems.append(str(exc))
        bundle = self._models.active_bundle()
        if bundle is not None:
            for name, listed in sorted(bundle.models.items()):
                if active.get(name) != listed:
                    at = active.get(name) or "no active version"
                    problems.append(f"{name} is at {at}, the active bundle {bundle.bundle_id} lists {listed}")
        return ModelSetState(consistent=not problems, problems=problems)

    def _verify(self, name: str, version: str) -> None:
        """The card of `name` `version` and its files, unless verified with the same file stamps before."""
        card = self._models.card(name, version)
        stamps = tuple(_stamp(self._models.file_path(card, i)) for i in range(len(card.files)))
        with self._lock:
            if self._verified.get((name, version)) == stamps:
                return
        self._models.verify(card)
        with self._lock:
            self._verified[(name, version)] = stamps


def _stamp(path: Path) -> _FileStamp:
    try:
        info = path.stat()
    except FileNotFoundError:
        return (0, -1, 0)  # verify names the missing file
    return (info.st_ino, info.st_size, info.st_mtime_ns)
