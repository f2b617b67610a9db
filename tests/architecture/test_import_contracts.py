"""The layer contract (.importlinter, docs/architecture.md) holds, and each of its contracts fails
when a module breaks it: `lint-imports` on a copy of the sources with one import added."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.architecture.conftest import ROOT, add_line, copy_checked_sources, package_dirs

LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))

#: contract id -> (file of the copy, the import added to it, what the broken contract's report says)
BREAKS = {
    "layers": (
        "appliance/sdk/types.py",
        "import appliance.core.services",
        "appliance.sdk is not allowed to import appliance.core",
    ),
    "acyclic": (
        "appliance/domain/rules.py",
        "import appliance.wire",
        "No cycles are allowed in appliance",
    ),
    "plugins": (
        "plugins/biometry/appliance_plugin_biometry/__init__.py",
        "import appliance.core.services",
        "appliance_plugin_biometry is not allowed to import appliance.core",
    ),
    "modelstore": (
        "modelstore/src/appliance_modelstore/switch.py",
        "import appliance_updater.install",
        "appliance_modelstore is not allowed to import appliance_updater",
    ),
    "updater": (
        "updater/src/appliance_updater/json_forms.py",
        "import appliance.runtime",
        "appliance_updater is not allowed to import appliance",
    ),
    "client": (
        "clients/python/src/appliance_client/models.py",
        "import appliance.domain.enums",
        "appliance_client is not allowed to import appliance",
    ),
}


def lint_imports(root: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    """`lint-imports` on the sources at `root` (its .importlinter), for `contracts` (default all)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(package_dirs(root))}
    command = [LINT_IMPORTS, "--no-cache", *(arg for c in contracts for arg in ("--contract", c))]
    return subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_the_contracts_hold() -> None:
    run = lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Contracts: {len(BREAKS)} kept, 0 broken." in run.stdout


def test_every_contract_is_proved_to_fail_when_broken() -> None:
    configured = [
        line.removeprefix("[importlinter:contract:").rstrip("]")
        for line in (ROOT / ".importlinter").read_text().splitlines()
        if line.startswith("[importlinter:contract:")
    ]
    assert sorted(configured) == sorted(BREAKS)


@pytest.mark.parametrize("contract", sorted(BREAKS))
def test_a_contract_fails_when_a_module_breaks_it(contract: str, tmp_path: Path) -> None:
    root = copy_checked_sources(tmp_path)
    assert lint_imports(root, contract).returncode == 0  # the copy keeps it, as the sources do
    module, line, report = BREAKS[contract]
    add_line(root / module, line)

    run = lint_imports(root, contract)

    assert run.returncode == 1, run.stdout + run.stderr
    assert "BROKEN" in run.stdout and report in run.stdout, run.stdout


def test_importing_the_sdk_loads_nothing_above_it() -> None:
    """What a plugin imports at run time (the SDK, its web and console sides, the hooks, and the
    test kit's public face before a host-side name is used) loads no module above the SDK."""
    above = ("api", "cli", "console", "core", "doctor", "queue", "testkit")
    code = (
        "import sys\n"
        "import appliance.sdk, appliance.sdk.console, appliance.sdk.hookspecs, appliance.sdk.testing, appliance.sdk.web\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('appliance.'))))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    loaded = run.stdout.split()
    assert "appliance.sdk.web" in loaded
    assert [m for m in loaded if m.split(".")[1] in above] == []


def test_the_test_kit_loads_its_host_side_on_first_use() -> None:
    code = (
        "import sys\n"
        "import appliance.sdk.testing as kit\n"
        "before = 'appliance.testkit' in sys.modules\n"
        "kit.PluginTestBed\n"
        "print(before, 'appliance.testkit' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert run.stdout.split() == ["False", "True"]
