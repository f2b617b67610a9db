"""The type checker passes over the appliance, the built-in plugins and the updater ([tool.mypy] in
pyproject.toml), strict on the plugin contract, and fails on a copy of the sources with a slip in it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.architecture.conftest import ROOT, add_line, copy_checked_sources

#: A function without annotations: allowed in the appliance, refused in the SDK (strict).
UNTYPED = "def untyped(value):\n    return value"
#: A type error anywhere.
WRONG_TYPE = "answer: int = 'forty-two'"


def mypy(root: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    """mypy with the configuration of the tree at `root`, on the files it names."""
    command = [sys.executable, "-m", "mypy", "--cache-dir", str(cache)]
    return subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=600, check=False)


def test_the_sources_type_check(tmp_path: Path) -> None:
    run = mypy(ROOT, tmp_path / "cache")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("Success: no issues found")


def test_a_typing_slip_fails_the_check_and_the_sdk_is_held_strictly(tmp_path: Path) -> None:
    root = copy_checked_sources(tmp_path / "sources")
    add_line(root / "appliance/sdk/types.py", UNTYPED)
    add_line(root / "appliance/core/analysis.py", UNTYPED)  # not strict there: no error
    add_line(root / "appliance/core/folders.py", WRONG_TYPE)

    run = mypy(root, tmp_path / "cache")

    assert run.returncode == 1, run.stdout + run.stderr
    errors = sorted(line for line in run.stdout.splitlines() if ": error:" in line)
    assert len(errors) == 2, run.stdout
    assert errors[0].startswith("appliance/core/folders.py:") and "[assignment]" in errors[0]
    assert errors[1].startswith("appliance/sdk/types.py:") and "[no-untyped-def]" in errors[1]
