"""A copy of the checked sources in a temporary directory, in the repository's layout, in which a
test may break a rule to prove that its check fails."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The packages the contracts and the type checker look at, by their place in the repository.
CHECKED_SOURCES = (
    "appliance",
    "plugins/biometry/appliance_plugin_biometry",
    "plugins/blacklist/appliance_plugin_blacklist",
    "plugins/documents/appliance_plugin_documents",
    "plugins/quality/appliance_plugin_quality",
    "modelstore/src/appliance_modelstore",
    "updater/src/appliance_updater",
    "clients/python/src/appliance_client",
)
#: The files that configure the checks.
CHECK_CONFIGS = (".importlinter", "pyproject.toml")


def copy_checked_sources(target: Path) -> Path:
    """The checked packages and the check configurations, copied into `target` (no caches); `target`."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for source in CHECKED_SOURCES:
        shutil.copytree(ROOT / source, target / source, ignore=ignore)
    for config in CHECK_CONFIGS:
        shutil.copy2(ROOT / config, target / config)
    return target


def package_dirs(root: Path) -> list[str]:
    """The directories that hold the checked packages of the tree at `root` (a PYTHONPATH)."""
    return sorted({str(root / Path(source).parent) for source in CHECKED_SOURCES})


def add_line(path: Path, line: str) -> None:
    """Append `line` to the Python file at `path`."""
    path.write_text(path.read_text() + f"\n{line}\n")
