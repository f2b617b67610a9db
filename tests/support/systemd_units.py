"""Checking systemd units where systemd is not PID 1 (test machines, CI).

`unit_settings` reads a unit file. `systemd-analyze verify` works without a running systemd, but
checks that `ExecStart`'s program exists: `verify_unit` checks a copy whose installed paths are
replaced by this checkout's (the only change). A tool or permission a test needs and lacks skips
it, except under `CI=true`, where everything must be present and the test fails instead (`missing`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.missing import missing

__all__ = ["require_tool", "unit_copy", "unit_settings", "verify_unit"]


def require_tool(name: str) -> str:
    """The path of program `name`, or `missing`."""
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed")
    return path


def unit_settings(unit: Path, section: str = "Service") -> dict[str, list[str]]:
    """The settings of a unit file's `section`, each with every value it is given, in order."""
    settings: dict[str, list[str]] = {}
    current = ""
    for line in unit.read_text().splitlines():
        line = line.strip()
        if line.startswith("["):
            current = line
        elif current == f"[{section}]" and "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_copy(unit: Path, workdir: Path, *, replace: Mapping[str, str], instance: str | None = None) -> Path:
    """A copy of `unit` in `workdir` with each `replace` key (which must occur) replaced by its
    value; a template (`name@.service`) copied as its `instance`."""
    text = unit.read_text()
    for installed, here in replace.items():
        assert installed in text, f"{unit.name} does not name {installed}"
        text = text.replace(installed, here)
    copy = workdir / (unit.name.replace("@.", f"@{instance}.") if instance else unit.name)
    copy.write_text(text)
    return copy


def verify_unit(
    unit: Path,
    workdir: Path,
    *,
    replace: Mapping[str, str],
    instance: str | None = None,
    ignore: Sequence[str] = (),
) -> list[str]:
    """What `systemd-analyze verify` says about `unit` (empty: nothing), checked as its
    `unit_copy`; output lines containing an `ignore` string (e.g. a device that does not exist
    here) are left out."""
    copy = unit_copy(unit, workdir, replace=replace, instance=instance)
    result = subprocess.run(
        [require_tool("systemd-analyze"), "verify", "--man=no", str(copy)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and not any(noise in line for noise in ignore)
    ]
    if result.returncode != 0 and not problems:
        problems.append(f"systemd-analyze verify exited with {result.returncode}")
    return problems
