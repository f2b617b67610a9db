"""The names in a model store and the rules they follow (docs/model-store.md, "Layout").

    <models_root>/<name>/<version>/card.json + files   a model version, never changed once there
    <models_root>/<name>/active -> <version>           the active version: a relative symbolic link
    <models_root>/.bundle.json                         the bundle whose models are active (the updater's)
    <models_root>/.manifests/<sha256>.json             the manifest of every bundle the updater installed

Readers ignore every entry whose name starts with a dot (staging directories, links about to
replace `active`, temporary files), so a half-written entry is never visible.
"""

from __future__ import annotations

import re

from packaging.version import InvalidVersion, Version

__all__ = [
    "ACTIVE_LINK",
    "ACTIVE_TEMP_PREFIX",
    "BUNDLE_MARKER",
    "CARD_FILE",
    "FILE_NAME",
    "MANIFESTS_DIR",
    "MODEL_NAME",
    "SHA256",
    "STAGING_PREFIX",
    "is_hidden",
    "version_key",
]

CARD_FILE = "card.json"
ACTIVE_LINK = "active"
#: A link made beside `active`, then renamed over it (`switch.switch_active`).
ACTIVE_TEMP_PREFIX = ".active-"
#: A version directory being filled, renamed to `<version>` once complete.
STAGING_PREFIX = ".staging-"
#: Written by the updater: the bundle whose models are active.
BUNDLE_MARKER = ".bundle.json"
#: Written by the updater: `<root>/.manifests/<sha256>.json`, the exact manifest of each bundle it installed.
MANIFESTS_DIR = ".manifests"

#: A model's name: lowercase letters, digits, `.`, `_`, `-`, at most 64, not starting with a dot.
MODEL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
#: A file of a model version: a plain name.
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
SHA256 = re.compile(r"[0-9a-f]{64}")


def is_hidden(name: str) -> bool:
    """Whether readers skip the entry `name` (staging, temporary, the updater's own files)."""
    return name.startswith(".")


def version_key(version: str) -> Version:
    """The sort key of a model version (PEP 440); raises ValueError when `version` is not one."""
    try:
        return Version(version)
    except InvalidVersion:
        raise ValueError(f"model version {version!r} is not a PEP 440 version (e.g. 1.0.0 or 2026.11.25)") from None
