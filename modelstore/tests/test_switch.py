"""The atomic switch of a model's active version, which every writer of a store goes through."""

from __future__ import annotations

import os
from pathlib import Path

from appliance_modelstore.layout import ACTIVE_LINK, is_hidden
from appliance_modelstore.switch import switch_active


def _model_dir(tmp_path: Path, *versions: str) -> Path:
    model_dir = tmp_path / "det"
    for version in versions:
        (model_dir / version).mkdir(parents=True)
    return model_dir


def test_the_link_points_at_the_bare_version_and_nothing_else_is_left(tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path, "1.0.0", "1.1.0")

    switch_active(model_dir, "1.0.0")
    first = (model_dir / ACTIVE_LINK).lstat().st_ino
    switch_active(model_dir, "1.1.0")

    assert os.readlink(model_dir / ACTIVE_LINK) == "1.1.0"
    assert (model_dir / ACTIVE_LINK).lstat().st_ino != first  # replaced by a rename, not rewritten
    assert sorted(p.name for p in model_dir.iterdir()) == ["1.0.0", "1.1.0", ACTIVE_LINK]


def test_the_same_version_again_changes_nothing(tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path, "1.0.0")
    switch_active(model_dir, "1.0.0")
    inode = (model_dir / ACTIVE_LINK).lstat().st_ino

    switch_active(model_dir, "1.0.0")

    assert (model_dir / ACTIVE_LINK).lstat().st_ino == inode


def test_no_version_removes_the_link(tmp_path: Path) -> None:
    model_dir = _model_dir(tmp_path, "1.0.0")
    switch_active(model_dir, "1.0.0")

    switch_active(model_dir, None)
    switch_active(model_dir, None)

    assert not (model_dir / ACTIVE_LINK).is_symlink()
    assert not any(is_hidden(p.name) for p in model_dir.iterdir())
